#!/usr/bin/env bash
# The real-scan study of docs/RESULTS.md: four BraTS 2013 patients, 2-fold patient
# cross-validation, every model with 3 training seeds under every threshold policy, and two PathoGAN ablations
# with 2.
# Run it again to continue after a stop: finished runs are reused, an interrupted one resumed.
#
#   bash docs/examples/brats2013-study.sh DATA_DIR [OUT_DIR] [extra options...]
#
# DATA_DIR: the brats2013-deepmedic folder (see docs/DATA.md). Extra options go to every
# compare command, e.g. --threads 2. The GPU version of the same study: docs/RESULTS.md.
set -euo pipefail
data=${1:?usage: brats2013-study.sh DATA_DIR [OUT_DIR] [extra options...]}
out=${2:-study}
shift $(( $# > 1 ? 2 : 1 ))
here=$(dirname "$0")
common=(--config "$here/brats2013-study.toml" --data "$data" --modalities flair,t1c --folds 2)

# every model, every threshold policy (the default list), before and after a 3D median filter and the removal of
# components below 0.1 ml
models=threshold,dae,unet,pathogan,cyclegan,mdgru,anoddpm,diffusion-guided,cam,fixed-point-gan,vagan,fanogan,pddpm
pathogan-bench compare --models "$models" --n-seeds 3 \
    --postprocess median:5,min-component:0.1ml "${common[@]}" "$@" --out "$out/models"
# l_B held constant where Delta_B reads l_B * x_B
pathogan-bench compare --models pathogan --model-option detach_label_in_delta=true --n-seeds 2 "${common[@]}" "$@" \
    --out "$out/ablation-hold-label"
# the KL of eq. 9 summed over the latent dimensions instead of averaged (weight 0.1, the paper's lambda_KL)
pathogan-bench compare --models pathogan --without kl --loss kl-sum=0.1 --n-seeds 2 "${common[@]}" "$@" \
    --out "$out/ablation-kl-sum"
