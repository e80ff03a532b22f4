# First before each script of this folder: $1 the cluster's version, $2 its name, $3 its port, $4 the
# replication role (then ../cluster.sh, common.sh, the script with its own arguments as $1...).
set -eu
version=$1 cluster=$2 port=$3 role=$4; shift 4
