"""The svi backend: SVI conditioning on diffusers Wan components (imports torch)."""
