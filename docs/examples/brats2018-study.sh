#!/usr/bin/env bash
# The BraTS 2018 study of docs/RESULTS.md: the ten BraTS 2018 patients of the paper's own layout and modalities,
# patient-level 5-fold cross-validation (one validation patient inside each training fold), every model, every
# threshold policy before and after post-processing; the fully supervised references trained to convergence; the
# four BraTS 2013 patients as a test set from another site; one report with intervals, tests and ranks; and the
# ablation of PathoGAN's rules.
# Run it again to continue after a stop: finished runs are reused, an interrupted one resumed.
#
#   bash docs/examples/brats2018-study.sh DATA_DIR [OUT_DIR] [extra options...]
#
# DATA_DIR holds brats2018-sample/ and brats2013-deepmedic/ (docs/DATA.md). Extra options go to every compare
# command (e.g. --threads 2). Each run uses one thread by default: two studies can share a two-core machine.
set -euo pipefail
data=${1:?usage: brats2018-study.sh DATA_DIR [OUT_DIR] [extra options...]}
out=${2:-study-2018}
shift $(( $# > 1 ? 2 : 1 ))
here=$(dirname "$0")
models=threshold,dae,unet,pathogan,cyclegan,mdgru,anoddpm,diffusion-guided,cam,fixed-point-gan,vagan,fanogan,pddpm
cv=(--config "$here/brats2018-study.toml" --data "$data/brats2018-sample" --folds 5)
scoring=(--postprocess median:5,min-component:0.1ml --threads 1)

# 1. every model, one training seed per fold (the study's budget: 1000 steps of batch 4, width 0.125, 64 px)
pathogan-bench compare --models "$models" "${cv[@]}" "${scoring[@]}" "$@" --out "$out/models"
# 2. seeds 1 and 2 of the models that train in minutes (Fixed-Point GAN and the diffusion models keep seed 0): the
#    seed spread
pathogan-bench compare --models threshold,dae,unet,pathogan,cyclegan,mdgru,cam,vagan,fanogan --seed 1 --n-seeds 2 \
    "${cv[@]}" "${scoring[@]}" "$@" --out "$out/models"
# 3. the fully supervised references trained to convergence: up to the MDGRU paper's 27,500 iterations, segmenting
#    with the weights of the best validation Dice, stopped after 10 validations without a gain
pathogan-bench compare --models unet,mdgru "${cv[@]}" --steps 27500 --select-by val-dice --validate-every 500 \
    --patience 10 "${scoring[@]}" "$@" --out "$out/supervised"
# 4. another site: trained on the ten 2018 patients (FLAIR + T1c), tested on the four BraTS 2013 patients
pathogan-bench compare --models "$models" --config "$here/brats2018-external.toml" --data "$data/brats2018-sample" \
    --modalities flair,t1c --test-data "$data/brats2013-deepmedic" "${scoring[@]}" "$@" --out "$out/external"
# 5. one report over every cross-validated run: pooled tables, intervals, paired tests against the FLAIR threshold,
#    ranks
pathogan-bench compare "$out"/models/runs/*-seed[0-9] "$out"/supervised/runs/*-seed[0-9] --out "$out/report"
# 6. PathoGAN's rules one at a time (docs/RESULTS.md, the ablation): each variant on the same folds, every run
#    re-scored with the fixed 0.5 threshold beside the others, one comparison with a row per variant
pathogan-bench compare --models pathogan "${cv[@]}" "${scoring[@]}" "$@" --model-option discriminator_field=reference \
    --out "$out/ablation/ref-field"
pathogan-bench compare --models pathogan "${cv[@]}" "${scoring[@]}" "$@" --model-option bottleneck=paper-layers \
    --out "$out/ablation/paper-layers"
pathogan-bench compare --models pathogan "${cv[@]}" "${scoring[@]}" "$@" --steps 3000 --out "$out/ablation/steps3000"
ablation=("$out"/models/runs/threshold-fold*-seed0 "$out"/models/runs/pathogan-fold*-seed0 "$out"/ablation/*/runs/*)
for run in "${ablation[@]}"; do
    pathogan-bench evaluate "$run" --policies model,fixed:0.5,fpr:1,fpr:5,slice-labels,val-dice,otsu,oracle > /dev/null
done
pathogan-bench compare "${ablation[@]}" --out "$out/ablation/report"
