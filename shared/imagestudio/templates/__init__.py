"""Create-studio templates (a catalogue in code), their search and recommendation, and prompt craft.

::

    catalogue.py   Template, TEMPLATES (platform, category, exact size, true aspect, styles, providers)
    service.py     template_service: list/filter, ranked search, recommend
    prompting.py   deterministic, explainable prompt enhancement (style, template, quality)
"""
