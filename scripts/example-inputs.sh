#!/usr/bin/env bash
# Makes the inputs of manifests/examples/talk.yaml, dance.yaml and keyframes.yaml from Debian's tools and stores them
# in ConfigMaps of NAMESPACE (binaryData, each well under a ConfigMap's 1 MiB):
#   talk-inputs:  face.png (ffmpeg's testsrc2), voice.wav (a sentence spoken by ffmpeg's flite voice "slt", 16 kHz)
#   dance-inputs: dancer.png, skeleton.mp4 (a stick figure drawn by scripts/draw-skeleton-video.py, 50 frames that
#                 loop), music.wav (a beat: ffmpeg's sine source beeping four times a second over pink noise)
#   harbour-keyframes: lighthouse.png, quay.png (ffmpeg's testsrc2 and smptehdbars), the keyframed scenes' first frames
# Usage: scripts/example-inputs.sh NAMESPACE   (kubectl's current context; ffmpeg and python3 on PATH)
set -euo pipefail
namespace=${1:?usage: example-inputs.sh NAMESPACE}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
ff -f lavfi -i testsrc2=size=640x368 -frames:v 1 "$dir/face.png"
ff -f lavfi -i "flite=text='Hello. I am a talking head, drawn by the LongVideo operator. Every clip follows my voice, frame by frame.':voice=slt" \
  -ac 1 -ar 16000 -c:a pcm_s16le "$dir/voice.wav"
ff -f lavfi -i testsrc2=size=368x640 -frames:v 1 "$dir/dancer.png"
ff -f lavfi -i testsrc2=size=832x480 -frames:v 1 "$dir/lighthouse.png"
ff -f lavfi -i smptehdbars=size=832x480 -frames:v 1 "$dir/quay.png"
python3 "$here/draw-skeleton-video.py" "$dir/skeleton.mp4" --frames 50 --size 256x256 --fps 25
# A beep four times a second over quiet pink noise (so no stretch of it repeats another exactly).
ff -f lavfi -i "sine=frequency=220:beep_factor=4:sample_rate=16000:duration=12" \
  -f lavfi -i "anoisesrc=color=pink:amplitude=0.05:sample_rate=16000:duration=12:seed=3" \
  -filter_complex "[0:a][1:a]amix=inputs=2:duration=first" -ac 1 -c:a pcm_s16le "$dir/music.wav"

store() { # <configmap> <file>...
  local name=$1
  shift
  local args=()
  for file in "$@"; do args+=("--from-file=$(basename "$file")=$file"); done
  kubectl create configmap "$name" -n "$namespace" "${args[@]}" --dry-run=client -o yaml |
    kubectl apply --server-side --force-conflicts -n "$namespace" -f - >/dev/null
}
store talk-inputs "$dir/face.png" "$dir/voice.wav"
store dance-inputs "$dir/dancer.png" "$dir/skeleton.mp4" "$dir/music.wav"
store harbour-keyframes "$dir/lighthouse.png" "$dir/quay.png"
echo "configmaps talk-inputs, dance-inputs and harbour-keyframes in namespace $namespace"
