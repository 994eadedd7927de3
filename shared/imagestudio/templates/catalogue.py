"""The create-studio template catalogue, as data: platform, category, exact size and true aspect.

The seed's 26 templates are all here, corrected: true aspect ratios computed from the size (the
seed labelled 820x312 "16:9" and 1128x191 "4:1"), the sizes the social optimizer uses for the
same formats (X post 1200x675, YouTube channel art 2560x1440), and suggested providers that are
real provider names (the seed's "ideogram" was not). ``ad_creative`` and ``product``, empty in the
seed, have templates of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import Any

from imagestudio.providers.schemas import Quality

__all__ = ["CATEGORIES", "PLATFORMS", "TEMPLATES", "Template", "aspect_label"]

#: Categories a template belongs to (each has at least one template).
CATEGORIES: tuple[str, ...] = (
    "social_media",
    "blog_content",
    "ad_creative",
    "product",
    "brand_assets",
    "email_marketing",
)
#: Platforms templates are made for; ``display`` is web display advertising, ``ecommerce`` shop listings.
PLATFORMS: tuple[str, ...] = (
    "instagram", "facebook", "twitter", "linkedin", "youtube", "pinterest", "tiktok",
    "blog", "email", "website", "display", "ecommerce",
)  # fmt: skip


def aspect_label(width: int, height: int) -> str:
    """The true reduced ratio (``16:9``), or a decimal one (``1.91:1``) when the terms are large."""
    divisor = gcd(width, height)
    w, h = width // divisor, height // divisor
    if w <= 32 and h <= 32:
        return f"{w}:{h}"
    return f"{width / height:.2f}:1" if width >= height else f"1:{height / width:.2f}"


@dataclass(frozen=True)
class Template:
    """A ready-made brief: where the image goes, its exact size and how it should look."""

    id: str
    name: str
    platform: str
    category: str
    width: int
    height: int
    description: str
    #: The Stability-style preset the template starts from; the request may override it.
    style_preset: str
    quality: Quality
    #: Providers that do this kind of image well, best first (auto mode prefers them).
    suggested_providers: tuple[str, ...]
    #: Other presets that suit the template.
    style_recommendations: tuple[str, ...]
    use_cases: tuple[str, ...]
    tags: tuple[str, ...]
    #: Composition guidance prompt enhancement adds (framing, room for text).
    composition: str

    @property
    def aspect_ratio(self) -> str:
        return aspect_label(self.width, self.height)

    @property
    def ratio(self) -> float:
        return self.width / self.height

    def describe(self) -> dict[str, Any]:
        """What ``GET /templates`` shows: :data:`_DESCRIBED` in order, tuples as lists."""
        values = {name: getattr(self, name) for name in _DESCRIBED}
        return {name: list(value) if isinstance(value, tuple) else value for name, value in values.items()}


#: What a template's description shows, in order (its composition guidance is prompt enhancement's own).
_DESCRIBED = (
    "id", "name", "platform", "category", "width", "height", "aspect_ratio", "description", "style_preset",
    "style_recommendations", "suggested_providers", "quality", "use_cases", "tags",
)  # fmt: skip


_PHOTO = ("stability", "gemini")
_ART = ("wavespeed", "stability")
_TEXT = ("wavespeed", "stability")  # Ideogram (on WaveSpeed) renders legible text best
_CINE = ("stability", "wavespeed")
_FEED = "subject centred with clear margins so platform overlays do not cover it"
_STORY = "vertical full-bleed composition, subject in the middle third, top and bottom kept calm for UI"
_WIDE = "wide composition, key subject off-centre, generous negative space for a headline"
_BANNER = "very wide banner composition, subject kept to the central band, edges uncluttered"


def _t(
    id: str,
    name: str,
    platform: str,
    size: tuple[int, int],
    category: str,
    style: str,
    quality: Quality,
    providers: tuple[str, ...],
    description: str,
    use_cases: tuple[str, ...],
    tags: tuple[str, ...],
    composition: str,
    styles: tuple[str, ...] = (),
) -> Template:
    return Template(
        id=id,
        name=name,
        platform=platform,
        category=category,
        width=size[0],
        height=size[1],
        description=description,
        style_preset=style,
        quality=quality,
        suggested_providers=providers,
        style_recommendations=styles or (style,),
        use_cases=use_cases,
        tags=tags,
        composition=composition,
    )


_ALL: tuple[Template, ...] = (
    # --- social media (the seed's 20, sizes aligned with the social optimizer) ---
    _t("instagram_feed_square", "Instagram Feed Post (Square)", "instagram", (1080, 1080), "social_media",
       "photographic", "premium", _PHOTO, "Square post for the Instagram feed and profile grid.",
       ("Product showcase", "Brand announcement", "Quote post"), ("instagram", "feed", "post", "square", "grid"),
       _FEED, ("photographic", "digital-art", "analog-film")),
    _t("instagram_feed_portrait", "Instagram Feed Post (Portrait)", "instagram", (1080, 1350), "social_media",
       "photographic", "premium", _PHOTO, "Tall 4:5 feed post that takes the most screen space.",
       ("Lifestyle photo", "Product showcase", "Carousel cover"), ("instagram", "feed", "post", "portrait"),
       _FEED, ("photographic", "cinematic")),
    _t("instagram_story", "Instagram Story", "instagram", (1080, 1920), "social_media",
       "digital-art", "standard", _ART, "Full-screen vertical story frame.",
       ("Behind the scenes", "Announcement", "Poll background"), ("instagram", "story", "vertical", "fullscreen"),
       _STORY, ("digital-art", "photographic", "neon-punk")),
    _t("instagram_reel_cover", "Instagram Reel Cover", "instagram", (1080, 1920), "social_media",
       "cinematic", "premium", _CINE, "Cover frame of a Reel; the grid shows its centre.",
       ("Video covers", "Tutorial teaser"), ("instagram", "reel", "video", "cover", "vertical"),
       _STORY, ("cinematic", "photographic")),
    _t("facebook_feed", "Facebook Feed Post", "facebook", (1200, 630), "social_media",
       "photographic", "standard", _PHOTO, "Landscape link and feed image.",
       ("Link preview", "Event promotion", "Community update"), ("facebook", "feed", "post", "landscape", "link"),
       _WIDE),
    _t("facebook_feed_square", "Facebook Feed Post (Square)", "facebook", (1080, 1080), "social_media",
       "photographic", "standard", _PHOTO, "Square feed post.",
       ("Product showcase", "Community update"), ("facebook", "feed", "post", "square"), _FEED),
    _t("facebook_story", "Facebook Story", "facebook", (1080, 1920), "social_media",
       "digital-art", "standard", _ART, "Full-screen vertical story.",
       ("Announcement", "Flash sale"), ("facebook", "story", "vertical"), _STORY),
    _t("facebook_cover", "Facebook Cover Photo", "facebook", (820, 312), "social_media",
       "photographic", "premium", _PHOTO, "Page cover; mobile crops the sides.",
       ("Brand header", "Seasonal campaign"), ("facebook", "cover", "header", "banner", "brand"), _BANNER),
    _t("twitter_post", "X (Twitter) Post", "twitter", (1200, 675), "social_media",
       "photographic", "standard", _PHOTO, "In-stream 16:9 post image.",
       ("News visual", "Thread opener", "Product teaser"), ("twitter", "x", "post", "landscape"), _WIDE),
    _t("twitter_card", "X (Twitter) Summary Card", "twitter", (1200, 600), "social_media",
       "digital-art", "standard", _ART, "Large summary card image for shared links.",
       ("Link preview", "Blog promotion"), ("twitter", "x", "card", "link"), _WIDE),
    _t("twitter_header", "X (Twitter) Header", "twitter", (1500, 500), "social_media",
       "photographic", "premium", _PHOTO, "Profile header; the avatar overlaps the bottom left.",
       ("Profile branding", "Campaign header"), ("twitter", "x", "header", "banner", "brand"), _BANNER),
    _t("linkedin_post", "LinkedIn Post", "linkedin", (1200, 628), "social_media",
       "photographic", "premium", _PHOTO, "Landscape feed image for professional updates.",
       ("Company news", "Hiring announcement", "Thought leadership"), ("linkedin", "post", "feed", "landscape"),
       _WIDE),
    _t("linkedin_post_square", "LinkedIn Post (Square)", "linkedin", (1080, 1080), "social_media",
       "photographic", "premium", _PHOTO, "Square feed image.",
       ("Company news", "Event promotion"), ("linkedin", "post", "feed", "square"), _FEED),
    _t("linkedin_article", "LinkedIn Article Header", "linkedin", (1200, 627), "social_media",
       "photographic", "premium", _PHOTO, "Cover image of a LinkedIn article (really 1.91:1).",
       ("Article cover", "Thought leadership"), ("linkedin", "article", "cover", "header"), _WIDE),
    _t("linkedin_cover", "LinkedIn Company Cover", "linkedin", (1128, 191), "social_media",
       "photographic", "premium", _PHOTO, "Company page banner (really 5.91:1).",
       ("Company branding",), ("linkedin", "cover", "banner", "company", "brand"), _BANNER),
    _t("youtube_thumbnail", "YouTube Thumbnail", "youtube", (1280, 720), "social_media",
       "cinematic", "premium", _TEXT, "Video thumbnail; the duration badge sits bottom right.",
       ("Video covers", "Tutorial thumbnail", "Clickable title card"), ("youtube", "thumbnail", "video", "title"),
       "bold high-contrast subject, room on one side for a large title", ("cinematic", "comic-book")),
    _t("youtube_channel_art", "YouTube Channel Art", "youtube", (2560, 1440), "social_media",
       "photographic", "premium", _PHOTO, "Channel banner; only the centre 1546x423 shows on every device.",
       ("Channel branding",), ("youtube", "channel", "banner", "brand"), _BANNER),
    _t("pinterest_pin", "Pinterest Pin", "pinterest", (1000, 1500), "social_media",
       "photographic", "premium", _PHOTO, "Standard 2:3 pin.",
       ("Recipe", "DIY guide", "Product inspiration"), ("pinterest", "pin", "portrait", "vertical"),
       "tall composition, subject in the upper two thirds, space at the bottom for text"),
    _t("pinterest_story", "Pinterest Idea Pin", "pinterest", (1080, 1920), "social_media",
       "digital-art", "standard", _ART, "Full-screen idea / story pin.",
       ("Step by step", "Inspiration board"), ("pinterest", "story", "idea", "vertical"), _STORY),
    _t("tiktok_video_cover", "TikTok Video Cover", "tiktok", (1080, 1920), "social_media",
       "cinematic", "premium", _CINE, "Video cover; the right edge holds the action buttons.",
       ("Video covers", "Trend teaser"), ("tiktok", "video", "cover", "vertical"), _STORY),
    # --- blog, email, website (the seed's other 6) ---
    _t("blog_header", "Blog Header", "blog", (1920, 1080), "blog_content",
       "photographic", "premium", _PHOTO, "Article hero image.",
       ("Article hero", "Featured image"), ("blog", "header", "hero", "article", "landscape"), _WIDE),
    _t("blog_header_wide", "Blog Header (Wide)", "blog", (2560, 1080), "blog_content",
       "photographic", "premium", _PHOTO, "Ultra-wide 21:9-class article header.",
       ("Article hero", "Long-read banner"), ("blog", "header", "wide", "banner"), _BANNER),
    _t("email_banner", "Email Banner", "email", (1920, 1080), "email_marketing",
       "photographic", "standard", _PHOTO, "Top banner of a newsletter.",
       ("Newsletter header", "Promotion email"), ("email", "newsletter", "banner", "header"), _WIDE),
    _t("email_product", "Email Product Image", "email", (1080, 1080), "email_marketing",
       "photographic", "premium", _PHOTO, "Square product tile for emails.",
       ("Product showcase", "Promotion email"), ("email", "product", "square", "tile"),
       "single product centred on a clean background"),
    _t("website_hero", "Website Hero Image", "website", (2560, 1080), "brand_assets",
       "photographic", "premium", _PHOTO, "Landing-page hero behind a headline.",
       ("Landing page", "Homepage hero"), ("website", "hero", "landing", "banner", "brand"), _BANNER),
    _t("website_banner", "Website Banner", "website", (1920, 1080), "brand_assets",
       "photographic", "premium", _PHOTO, "Section banner for a website.",
       ("Section header", "Campaign page"), ("website", "banner", "brand", "landscape"), _WIDE),
    # --- ad creative (empty in the seed) ---
    _t("facebook_ad_square", "Facebook / Instagram Ad (Square)", "facebook", (1080, 1080), "ad_creative",
       "photographic", "premium", _TEXT, "Square paid-social ad with room for an offer.",
       ("Paid social ad", "Offer promotion", "Retargeting"), ("ad", "advert", "paid", "offer", "cta", "square"),
       "product or offer as the hero, clean space for a short headline and call to action",
       ("photographic", "digital-art")),
    _t("instagram_story_ad", "Instagram Story Ad", "instagram", (1080, 1920), "ad_creative",
       "digital-art", "premium", _TEXT, "Full-screen story ad; keep the bottom clear for the CTA sticker.",
       ("Paid social ad", "App install", "Flash sale"), ("ad", "advert", "story", "cta", "vertical"),
       "vertical ad, hero in the centre, bottom fifth left clear for the call to action"),
    _t("linkedin_sponsored", "LinkedIn Sponsored Content", "linkedin", (1200, 627), "ad_creative",
       "photographic", "premium", _TEXT, "Single-image sponsored post.",
       ("B2B lead generation", "Webinar promotion"), ("ad", "sponsored", "b2b", "lead", "linkedin"),
       "professional scene, space on the left for an offer headline"),
    _t("display_leaderboard", "Display Ad Leaderboard", "display", (1456, 180), "ad_creative",
       "digital-art", "standard", _TEXT, "728x90 leaderboard at 2x for display networks.",
       ("Display advertising", "Retargeting"), ("ad", "display", "banner", "leaderboard", "web"),
       _BANNER),
    _t("display_rectangle", "Display Ad Medium Rectangle", "display", (600, 500), "ad_creative",
       "digital-art", "standard", _TEXT, "300x250 medium rectangle at 2x.",
       ("Display advertising", "Offer promotion"), ("ad", "display", "rectangle", "mpu", "web"),
       "compact composition, one clear subject, space for a short offer"),
    # --- product (empty in the seed) ---
    _t("product_white_background", "Product on White", "ecommerce", (2000, 2000), "product",
       "photographic", "premium", _PHOTO, "Marketplace-style packshot on pure white.",
       ("Product listing", "Marketplace packshot", "Catalogue"), ("product", "packshot", "white", "ecommerce",
       "catalogue", "square"),
       "single product centred, filling about 85% of the frame, on a seamless pure white background",
       ("photographic", "enhance")),
    _t("product_lifestyle", "Product Lifestyle Scene", "ecommerce", (1600, 1200), "product",
       "photographic", "premium", _PHOTO, "The product in use, in a real setting.",
       ("Product in context", "Lifestyle photo", "Product showcase"), ("product", "lifestyle", "scene", "context"),
       "product in natural use within a styled real-world scene, product in sharp focus",
       ("photographic", "cinematic", "analog-film")),
    _t("product_flat_lay", "Product Flat Lay", "instagram", (1080, 1350), "product",
       "photographic", "standard", _PHOTO, "Top-down arrangement of a product and props.",
       ("Product showcase", "Social commerce"), ("product", "flat lay", "top-down", "props", "portrait"),
       "top-down flat lay, product in the centre, props arranged around it with even spacing"),
    _t("product_3d_render", "Product 3D Render", "website", (1920, 1080), "product",
       "3d-model", "premium", _ART, "Studio-lit 3D render of a product for landing pages.",
       ("Product launch", "Landing page", "Feature highlight"), ("product", "3d", "render", "launch", "studio"),
       "studio-lit product render on a soft gradient backdrop, slight three-quarter angle",
       ("3d-model", "isometric", "low-poly")),
)  # fmt: skip

#: Template id -> template.
TEMPLATES: dict[str, Template] = {template.id: template for template in _ALL}
