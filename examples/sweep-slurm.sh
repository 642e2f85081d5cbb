#!/bin/bash
# A large sweep as a Slurm job array: task i of N runs shard i/N; a dependent job merges them.
#   sbatch --array=0-15 examples/sweep-slurm.sh            (16 shards)
#   sbatch --dependency=afterok:<jobid> --wrap 'handoff merge sweep/shard-* --out sweep/all'
#SBATCH --job-name=handoff-sweep
#SBATCH --cpus-per-task=8
#SBATCH --time=01:00:00
set -euo pipefail
N=${SLURM_ARRAY_TASK_COUNT:?run as a job array}
i=${SLURM_ARRAY_TASK_ID:?run as a job array}
# Every shard must get the same scenario, --set and --grid arguments (merge checks).
handoff sweep Scenarios/default.yaml \
  --grid policy.offload_threshold=0.5:0.95:0.01 \
  --grid tiers.large.replicas=1,2,4,8 \
  --grid network.rtt_ms.median=0.5,10,40,120 \
  --shard "$i/$N" --jobs "${SLURM_CPUS_PER_TASK:-1}" --out "sweep/shard-$i"
# A preempted task rerun with the same command resumes from sweep/shard-$i/results.jsonl.
