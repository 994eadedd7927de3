// Written by `imagestudio deploy render` from the studio registry: edit the studio, not this file.
/** Every route a job is submitted by (a studio, or a second route of one): its studio, its title, its
 * path and the request's image fields (the job's inputs under the same names). */
export const STUDIOS = [
  { name: "create", studio: "create", title: "Create", path: "/create", images: ["init_image"] },
  { name: "edit", studio: "edit", title: "Edit", path: "/edit", images: ["image", "mask", "background_reference", "light_reference"] },
  { name: "upscale", studio: "upscale", title: "Upscale", path: "/upscale", images: ["image"] },
  { name: "social", studio: "social", title: "Social", path: "/social/optimize", images: ["image"] },
  { name: "control", studio: "control", title: "Control", path: "/control", images: ["image", "style_image"] },
  { name: "compress", studio: "compress", title: "Compress", path: "/compress", images: ["image"] },
  { name: "convert", studio: "compress", title: "Convert", path: "/convert", images: ["image"] },
];

/** The studios themselves (each a page of the console), in the registry's order. */
export const STUDIO_PAGES = STUDIOS.filter((s) => s.name === s.studio);
