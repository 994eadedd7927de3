"""Brand personas: a tenant's stored tone, palette, style words and subjects to avoid, applied to prompts."""
