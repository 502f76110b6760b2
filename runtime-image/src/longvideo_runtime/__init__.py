"""LongVideo runtime: renders one segment of a film (svi or animatic backend) or concatenates a film.

Nothing here imports torch at module level: the animatic backend and concatenation run on numpy, Pillow and ffmpeg.
"""

__version__ = "0.1.0"
