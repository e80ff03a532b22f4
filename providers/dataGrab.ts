// DataGrab: "grab the latest data from Production" (runbook 3.1 step 3) before a host is promoted.
// The old production dumps its database; the incoming host pulls the dump, the data areas and the
// Apollo index from the old production's rsync daemons, then restores the dump into a new database
// that replaces the old one only once the restore succeeded. A grab is an event: it runs when the
// switch it belongs to (its `reason`) changes, and there is nothing to undo on delete.
import * as pulumi from '@pulumi/pulumi';
import { checkInputs, connectionShape, ConnectionInputs, connectionProps, diffInputs, HostArgs, SECRET_OUTPUTS, targetOf } from './contract';
import { Runner, runOverSsh, script } from './ssh';

export interface DataGrabInputs extends ConnectionInputs {
  /** The host the data comes from (the connection fields above are the host it goes to). */
  source: Omit<ConnectionInputs, 'privateKey'>;
  /** The switch this grab belongs to, e.g. "back to NORMAL: (production_as_standby, standby_as_production) -> (production, standby)". */
  reason: string;
  /** A best-effort grab (EMERGENCY) reports its failure instead of failing the switch. */
  mandatory: boolean;
  database: string;
  dumpDir: string;
  sounzRsyncPort: number;
  apolloRsyncPort: number;
  /** sounz rsync module -> local path (data areas and the dump folder). */
  modules: Record<string, string>;
  indexDir: string;
}

interface DataGrabOutputs extends DataGrabInputs {
  outcome: string;
}

const LOG = `log() { printf '%s data grab: %s\\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >>/var/log/sounz/sounz-general.log; }`;

// On the old production. $1 database, $2 dump folder. Complete dumps only ever carry the final name.
const DUMP = `set -eu
${LOG}
db=$1 dir=$2 start=$(date +%s)
mkdir -p "$dir" && chown postgres "$dir"
runuser -u postgres -- pg_dump -Fc -f "$dir/$db.dump.partial" "$db"
mv -f "$dir/$db.dump.partial" "$dir/$db.dump"
log "dumped $db: $(stat -c %s "$dir/$db.dump") bytes in $(( $(date +%s) - start )) s"`;

// On the incoming host. $1 source, $2 sounz port, $3 apollo port, $4 index dir, $5 database,
// $6 dump folder, then module=path pairs. rsync never deletes here before the transfer is whole.
const PULL_AND_RESTORE = `set -eu
${LOG}
source=$1 port=$2 apollo=$3 index=$4 db=$5 dir=$6; shift 6
start=$(date +%s)
for pair in "$@"; do
  module=\${pair%%=*} path=\${pair#*=}
  mkdir -p "$path"
  rsync -a --delete-after --contimeout=5 --timeout=60 "rsync://$source:$port/$module/" "$path/"
done
mkdir -p "$index"
rsync -a --delete-after --contimeout=5 --timeout=60 "rsync://$source:$apollo/index/" "$index/"
log "pulled $* and the Apollo index from $source in $(( $(date +%s) - start )) s"
runuser -u postgres -- dropdb --if-exists "\${db}_incoming"
runuser -u postgres -- createdb "\${db}_incoming"
runuser -u postgres -- pg_restore --no-owner --exit-on-error -d "\${db}_incoming" "$dir/$db.dump"
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres \\
  -c "DROP DATABASE IF EXISTS \${db}_previous" \\
  -c "ALTER DATABASE $db RENAME TO \${db}_previous" \\
  -c "ALTER DATABASE \${db}_incoming RENAME TO $db" \\
  -c "DROP DATABASE \${db}_previous"
log "restored $db from $source in $(( $(date +%s) - start )) s"`;

export function dataGrabProvider(run: Runner = runOverSsh): pulumi.dynamic.ResourceProvider {
  const grab = async (inputs: DataGrabInputs): Promise<string> => {
    const source = targetOf({ ...inputs.source, privateKey: inputs.privateKey });
    const modules = Object.entries(inputs.modules).map(([module, path]) => `${module}=${path}`);
    try {
      await run(source, script(DUMP, inputs.database, inputs.dumpDir), { timeoutMs: 600_000 });
      await run(targetOf(inputs), script(PULL_AND_RESTORE, inputs.source.address, String(inputs.sounzRsyncPort),
        String(inputs.apolloRsyncPort), inputs.indexDir, inputs.database, inputs.dumpDir, ...modules), { timeoutMs: 1_800_000 });
      return `grabbed from ${inputs.source.host} at ${new Date().toISOString()}`;
    } catch (error) {
      if (inputs.mandatory) throw error;
      return `best-effort grab from ${inputs.source.host} failed: ${(error as Error).message}`;
    }
  };
  return {
    async check(_olds: DataGrabInputs, news: DataGrabInputs) {
      return checkInputs((z, g) => {
        const { privateKey: _, ...sourceShape } = connectionShape(g);
        return {
          source: z.object(sourceShape).strict(),
          reason: z.string().min(1),
          mandatory: z.boolean(),
          database: g.databaseName,
          dumpDir: g.absolutePath,
          sounzRsyncPort: g.port,
          apolloRsyncPort: g.port,
          modules: z.record(z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'an rsync module name'), g.absolutePath),
          indexDir: g.absolutePath,
        };
      }, news);
    },
    async diff(_id: string, olds: DataGrabOutputs, news: DataGrabInputs) {
      return diffInputs(olds, news);
    },
    async create(inputs: DataGrabInputs) {
      return { id: `${inputs.source.host}->${inputs.host}`, outs: { ...inputs, outcome: await grab(inputs) } };
    },
    async update(_id: string, _olds: DataGrabOutputs, news: DataGrabInputs) {
      return { outs: { ...news, outcome: await grab(news) } };
    },
  };
}

export interface DataGrabArgs extends HostArgs {
  source: pulumi.Input<Omit<ConnectionInputs, 'privateKey'>>;
  reason: pulumi.Input<string>;
  mandatory: pulumi.Input<boolean>;
  database: pulumi.Input<string>;
  dumpDir: pulumi.Input<string>;
  sounzRsyncPort: pulumi.Input<number>;
  apolloRsyncPort: pulumi.Input<number>;
  modules: pulumi.Input<Record<string, string>>;
  indexDir: pulumi.Input<string>;
}

export class DataGrab extends pulumi.dynamic.Resource {
  declare readonly outcome: pulumi.Output<string>;

  constructor(name: string, args: DataGrabArgs, opts?: pulumi.CustomResourceOptions) {
    const { source, reason, mandatory, database, dumpDir, sounzRsyncPort, apolloRsyncPort, modules, indexDir } = args;
    super(dataGrabProvider(), name, { ...connectionProps(args), source, reason, mandatory, database, dumpDir, sounzRsyncPort,
      apolloRsyncPort, modules, indexDir, outcome: undefined }, { ...opts, additionalSecretOutputs: SECRET_OUTPUTS });
  }
}
