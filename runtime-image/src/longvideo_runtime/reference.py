"""Finding the film's reference image (the first frame the whole film grows from).

Order: LV_REFERENCE_IMAGE_PATH (a file), else LV_REFERENCE_IMAGE (the spec's JSON source):
- `{"pvc": {"claimName", "path"}}`: the claim mounted read-only at LV_REFERENCE_DIR, file `<dir>/<path>`;
- `{"configMap": {"name", "key"}}`: the config map mounted at LV_REFERENCE_DIR, file `<dir>/<key>`;
- `{"url": "https://..."}`: fetched once into `<workspace>/inputs/reference-<hash>` and reused by later segments,
  under LV_FETCH_POLICY (guarded_fetch.py: no cluster-internal addresses, a size cap and a deadline, image bytes
  only).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from longvideo_runtime import workspace_layout
from longvideo_runtime.errors import BadInput
from longvideo_runtime.guarded_fetch import guarded_fetch
from longvideo_runtime.spec import SegmentSpec


def _inside(base: Path, relative: str, what: str) -> Path:
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base.resolve()):
        raise BadInput(f"{what} {relative!r} points outside {base}")
    return candidate


def locate(spec: SegmentSpec) -> Path | None:
    """The reference image's file, fetching a url source into the workspace; None when no source is configured."""
    if spec.reference_image_path is not None:
        return spec.reference_image_path
    if not spec.reference_image.strip():
        return None
    try:
        source = json.loads(spec.reference_image)
    except json.JSONDecodeError as e:
        raise BadInput(f"LV_REFERENCE_IMAGE is not JSON: {e}") from None
    if not isinstance(source, dict) or len(source) != 1:
        raise BadInput("LV_REFERENCE_IMAGE must name exactly one of pvc, configMap, url")
    kind, value = next(iter(source.items()))
    if kind == "pvc" and isinstance(value, dict) and isinstance(value.get("path"), str):
        return _inside(spec.reference_dir, value["path"], "reference image path")
    if kind == "configMap" and isinstance(value, dict) and isinstance(value.get("key"), str):
        return _inside(spec.reference_dir, value["key"], "reference image key")
    if kind == "url" and isinstance(value, str):
        cached = workspace_layout.reference_cache(spec.workspace, hashlib.sha256(value.encode()).hexdigest()[:16])
        if not cached.is_file():
            guarded_fetch(value, cached, spec.fetch_policy)
        return cached
    raise BadInput(f"LV_REFERENCE_IMAGE has an unknown or malformed source: {spec.reference_image[:200]}")
