#!/bin/bash
# A lassi-ee campaign on a PBS allocation: the Ray head on the job's first node (where this
# script runs), a Ray worker on every other node, then the campaign.
#
#   qsub -l select=4:ncpus=32:ngpus=4 -v CAMPAIGN=/shared/campaign.yaml docs/scaleout/pbs.sh
#
# Written for PBS Pro (pbsdsh -n INDEX); with Torque use `pbsdsh -h HOST`, or `ssh HOST`
# where the site allows it inside a job. Checkpoints: a postgresql:// checkpoint_url in the
# campaign file (docs/SCALEOUT.md). Submit again to go on: cut-off trials resume.
#PBS -N lassi-ee
#PBS -l select=2:ncpus=32:ngpus=4
#PBS -l walltime=24:00:00
#PBS -j oe
set -euo pipefail

: "${CAMPAIGN:?qsub -v CAMPAIGN=/path/to/campaign.yaml pbs.sh}"
VENV=${VENV:-$HOME/lassi-ee/.venv}    # lassi-ee[ray,postgres], the same path on every node
source "$VENV/bin/activate"
export CUDA_DEVICE_ORDER=PCI_BUS_ID    # CUDA numbers GPUs as NVML does
cd "${PBS_O_WORKDIR:-$PWD}"

mapfile -t nodes < <(awk '!seen[$0]++' "$PBS_NODEFILE")   # each node once, in job order
head_ip=$(hostname --ip-address | awk '{print $1}')
address="$head_ip:6379"

echo "Ray head on ${nodes[0]} ($address); workers on ${nodes[*]:1}"
ray start --head --node-ip-address="$head_ip" --port=6379 --include-dashboard=false
for index in $(seq 1 $(( ${#nodes[@]} - 1 ))); do
  # the index of a node's first line in $PBS_NODEFILE, as pbsdsh -n counts
  line=$(grep -n -m1 -x "${nodes[$index]}" "$PBS_NODEFILE" | cut -d: -f1)
  pbsdsh -n $(( line - 1 )) -- bash -lc \
    "source '$VENV/bin/activate' && export CUDA_DEVICE_ORDER=PCI_BUS_ID && ray start --address='$address' --block" &
done

# wait until every node has joined (at most 5 minutes)
for _ in $(seq 60); do
  joined=$(python - "$address" <<'PY' 2>/dev/null || echo 0
import sys, ray
ray.init(address=sys.argv[1], log_to_driver=False)
print(sum(1 for node in ray.nodes() if node["Alive"]))
PY
)
  [ "$joined" -ge "${#nodes[@]}" ] && break
  sleep 5
done
echo "$joined of ${#nodes[@]} nodes in the Ray cluster"
ray status --address "$address" || true    # each node's GPUs should be listed here

status=0
lassi-ee campaign run "$CAMPAIGN" --engine ray --address auto || status=$?
lassi-ee campaign status "$CAMPAIGN"

ray stop --force || true
kill $(jobs -p) 2>/dev/null || true
exit "$status"
