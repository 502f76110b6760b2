"""The svi backend: SVI conditioning on diffusers Wan components (imports torch, but for launcher and parallel_plan)."""
