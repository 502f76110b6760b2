"""The svi backend: one SVI clip on diffusers' Wan components, conditioned by the variant's protocol."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from longvideo_runtime import conditioning_media
from longvideo_runtime.arrays import Array
from longvideo_runtime.errors import BadInput
from longvideo_runtime.rendering import RenderInput, RenderOutput
from longvideo_runtime.svi import models, parallel_group, parallel_render, protocol
from longvideo_runtime.svi.adapters import merge_adapters
from longvideo_runtime.svi.conditioning_inputs import talk_audio
from longvideo_runtime.svi.dance import clip_pose
from longvideo_runtime.svi.guidance import Guidance, TalkGuidance, TextGuidance
from longvideo_runtime.svi.sampler import ExpertSwitch, sample
from longvideo_runtime.svi.talk import AudioTokens, TalkModels, load_talk
from longvideo_runtime.variants import VAE_SCALE, latent_frames


@dataclass
class Trace:
    """What a render did, for logs and tests (e.g. that Pro never touches the previous clip's pixels)."""

    vae_encodes: int = 0
    vae_decodes: int = 0
    experts: list[str] = field(default_factory=list)
    condition_shape: tuple[int, ...] = ()
    #: Transformer blocks that attended to audio, and transformer passes that got pose features (Talk, Dance).
    audio_attentions: int = 0
    pose_additions: int = 0


class SviBackend:
    def __init__(self) -> None:
        self.trace = Trace()
        self.last_condition: torch.Tensor | None = None

    def _encode(self, components: models.WanComponents, video: torch.Tensor) -> torch.Tensor:
        self.trace.vae_encodes += 1
        return models.vae_encode(components, video)

    def render(self, request: RenderInput) -> RenderOutput:
        spec, stages, log = request.spec, request.stages, request.log
        settings = spec.svi
        timings: dict[str, float] = {}
        # Rank 0 of a sequence-parallel segment (svi/parallel_render.py); None in one process.
        ranks = parallel_group.join(spec, log) if settings.gpu_count > 1 else None
        t = time.perf_counter()
        components = models.load(
            settings, two_experts=spec.protocol == "latent", log=log, device=ranks.device if ranks else None
        )
        timings["load_seconds"] = time.perf_counter() - t

        t = time.perf_counter()
        talk: TalkModels | None = None
        merged, dance = merge_adapters(spec, components.transformer, components.transformer_2, components.device)
        timings["lora_seconds"] = time.perf_counter() - t
        log.info("lora-merged", modules=merged, lora=str(settings.lora), lora_2=str(settings.lora_2))
        if spec.variant == "talk":
            t = time.perf_counter()
            talk = load_talk(components.transformer, settings.models_dir, components.device)
            timings["audio_load_seconds"] = time.perf_counter() - t

        compute = time.perf_counter()
        t = compute
        text = models.encode_text(components, spec.prompt)
        # Talk runs its three passes whenever either scale differs from 1 (SVI's rule); text CFG only above 1.
        guided = spec.guidance_scale > 1 if talk is None else (spec.guidance_scale, spec.audio_guidance_scale) != (1, 1)
        negative = models.encode_text(components, settings.negative_prompt) if guided else None
        timings["text_seconds"] = time.perf_counter() - t

        # conditioning_media's record of the windows (start, frames, sha256 of what it decoded), plus what the models
        # were fed from them. Neither the audio features nor the pose features need the predecessor.
        consumed: dict[str, Any] = conditioning_media.consumed_windows(spec, request.conditioning)
        heard: AudioTokens | None = None
        if talk is not None:
            t = time.perf_counter()
            heard = talk_audio(spec, talk)
            consumed.setdefault("audioWindow", {}).update(heard.record)
            timings["audio_seconds"] = time.perf_counter() - t
            log.info("audio-window", **heard.record)
        posed: AbstractContextManager[None] = nullcontext()
        pose_features: torch.Tensor | None = None
        if dance is not None:
            t = time.perf_counter()
            if request.conditioning.pose is None:
                raise BadInput("a dance segment needs its skeleton frames (LV_POSE, LV_POSE_WINDOW)")
            pose = clip_pose(dance, request.conditioning.pose)
            consumed.setdefault("poseWindow", {}).update(pose.record)
            pose_features = pose.features
            posed = dance.pose.active(pose_features)
            timings["pose_seconds"] = time.perf_counter() - t
            log.info("pose-window", **pose.record)

        # Everything above is the models and what needs no predecessor: a warm attempt waits for its hand-off here.
        asked = time.perf_counter()
        previous = stages.previous()
        waited = time.perf_counter() - asked

        t = time.perf_counter()
        reference = torch.from_numpy(request.reference) if request.reference is not None else None
        h, w = spec.height, spec.width
        anchor: torch.Tensor | None = None
        if spec.protocol == "pixel":
            motion_u8 = torch.from_numpy(previous.tensors["motion_frames"]) if previous is not None else None
            if motion_u8 is None:
                if reference is None:
                    raise BadInput("a chain's first segment needs the reference image")
                motion_u8 = reference[None]
            ref_range = protocol.to_model_range(reference[None])[0] if reference is not None else None
            padding: Literal["reference", "zeros"] = "reference" if spec.padding == "reference" else "zeros"
            video = protocol.pixel_condition_video(protocol.to_model_range(motion_u8), ref_range, spec.frames, padding)
            condition_latent = self._encode(components, video)
            image = models.encode_image(components, motion_u8[0])
        else:
            if previous is not None:
                anchor = torch.from_numpy(previous.tensors["anchor_latent"])[None]
                motion = torch.from_numpy(previous.tensors["motion_latents"])[None]
            else:
                if reference is None:
                    raise BadInput("a chain's first segment needs the reference image")
                still = protocol.to_model_range(reference[None]).permute(1, 0, 2, 3)[None]
                anchor = self._encode(components, still).float().cpu()
                motion = None
            condition_latent = protocol.latent_condition(anchor.to(components.device), motion, spec.frames)
            image = models.encode_image(components, reference) if reference is not None else None
            if components.image_encoder is not None and image is None:
                raise BadInput("this model has an image encoder but the pro protocol has no image for it")
        mask = protocol.condition_mask(spec.frames, h, w).to(condition_latent.device)
        condition = torch.cat([mask, condition_latent.float()], dim=1)
        self.last_condition = condition.detach().cpu()
        self.trace.condition_shape = tuple(condition.shape)
        timings["condition_seconds"] = time.perf_counter() - t

        guidance: Guidance = TextGuidance(text, negative, image, spec.guidance_scale)
        if talk is not None and heard is not None:
            silent_text = negative if negative is not None else text
            guidance = TalkGuidance(
                text,
                silent_text,
                image,
                spec.guidance_scale,
                spec.audio_guidance_scale,
                talk.audio,
                heard.tokens,
                heard.silent,
            )

        stages.mark("denoise")
        t = time.perf_counter()
        shape = (1, components.vae.config.z_dim, latent_frames(spec.frames), h // VAE_SCALE, w // VAE_SCALE)
        noise = protocol.initial_noise(spec.seed, shape)
        experts = ExpertSwitch(
            components.transformer, components.transformer_2, settings.boundary_ratio, components.device
        )
        if ranks is not None:
            shared = parallel_render.job(noise, condition, text, negative, image, pose_features)
            latents = parallel_render.denoise(
                ranks, spec, experts, parallel_group.broadcast(ranks, shared), components.dtype, dance, log
            )
            parallel_group.leave()
        else:
            with posed:
                latents = sample(
                    experts,
                    noise,
                    condition,
                    guidance,
                    spec.steps,
                    settings.shift,
                    components.dtype,
                    on_step=lambda i, ts: log.debug("step", step=i + 1, of=spec.steps, timestep=round(ts, 2)),
                )
        self.trace.experts = experts.used
        self.trace.audio_attentions = talk.audio.calls if talk is not None else 0
        self.trace.pose_additions = dance.pose.calls if dance is not None else 0
        timings["denoise_seconds"] = time.perf_counter() - t
        stages.mark("denoised")

        handoff: dict[str, Array]
        if spec.protocol == "latent":
            # Pro hands off latents: committed before the decode, which the successor does not need.
            assert anchor is not None
            handoff = {
                "motion_latents": latents[0, :, -spec.motion_frames :].float().cpu().numpy().copy(),
                "anchor_latent": anchor[0].float().cpu().numpy().copy(),
            }
            stages.commit(handoff)

        stages.mark("decode")
        t = time.perf_counter()
        self.trace.vae_decodes += 1
        frames = protocol.to_uint8(models.vae_decode(components, latents)).cpu().numpy()
        timings["decode_seconds"] = time.perf_counter() - t
        stages.mark("decoded")
        timings["model_seconds"] = time.perf_counter() - compute - waited
        if frames.shape[0] != spec.frames:
            raise RuntimeError(f"the VAE decoded {frames.shape[0]} frames from {shape[2]} latents, not {spec.frames}")

        if spec.protocol == "pixel":
            # Shot, film, talk, dance hand off decoded frames: committed before the clip's encode.
            handoff = {"motion_frames": np.ascontiguousarray(frames[-spec.motion_frames :])}
            stages.commit(handoff)
        log.info(
            "svi-trace",
            vae_encodes=self.trace.vae_encodes,
            vae_decodes=self.trace.vae_decodes,
            experts="".join(e[0] for e in self.trace.experts),
            condition=list(self.trace.condition_shape),
            audio_attentions=self.trace.audio_attentions,
            pose_additions=self.trace.pose_additions,
        )
        return RenderOutput(frames=frames, handoff=handoff, timings=timings, consumed=consumed)
