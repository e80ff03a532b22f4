// Where an EMERGENCY's time goes: the engine's own log (-v=9, SOUNZ_ENGINE_LOG) with the operator
// command's marks in it (ops/engine.ts markEngineLog), read into phases.
/**
 * Where an EMERGENCY's time goes, from the engine's own log (-v=9) and the operator command's steps in
 * it (ops/engine.ts markEngineLog), one traced run: each phase ends at the first line that says so.
 */
export function breakdown(log: string, spawned: number, answered: number, serviceIpResource: string): Record<string, number> {
  const lines = log.split('\n').flatMap((line) => {
    const mark = /^I(\d\d)(\d\d) (\d\d:\d\d:\d\d\.\d{3})\d* \d+ sounz\] (.*)$/.exec(line);
    if (mark) return [{ at: Date.parse(`${new Date(spawned).getUTCFullYear()}-${mark[1]}-${mark[2]}T${mark[3]}Z`), text: mark[4] }];
    if (!line.startsWith('{')) return [];
    const entry = JSON.parse(line) as { time?: string; msg?: string };
    return entry.time && entry.msg ? [{ at: Date.parse(entry.time), text: entry.msg }] : [];
  }).sort((a, b) => a.at - b.at);
  const at = (what: string, pattern: RegExp) => {
    const line = lines.find((l) => pattern.test(l.text));
    if (!line) throw new Error(`the engine log has no line for ${what} (${pattern})`);
    return line.at;
  };
  const steps: [string, number][] = [
    ['the command\'s own start (bash, toolchain and build checks, node)', at('command started', /^command started$/)],
    ['the config read (the CLI\'s `pulumi config`; the preflight starts at its end)', at('config read', /^config read$/)],
    ['the CLI\'s up starts while @pulumi/pulumi and the program load; the engine calls the program',
      at('program run', /^program run by the engine$/)],
    ['the program: its own last outputs, the plan, the pair registered', at('Pair', /RegisterResource received: t=sounz:index:Pair/)],
    ['the dynamic-provider plugin starts (node and @pulumi/pulumi)', at('plugin', /^Handshake: /)],
    ['the claim on the standby (SSH login, duplicate-address detection, the address added) to the first HTTP answer', answered],
  ];
  // Side by side with those steps, measured from the end of the config's read.
  const read = steps[1][1];
  const alongside = {
    'program loaded, after the config': at('program loaded', /^program loaded$/) - read,
    'engine called the program, after the config': at('Run', /^langhost\[client\]\.Run\(/) - read,
    'preflight answered in the command, after the config': at('preflight', /^preflight observed both hosts$/) - read,
    'the engine recorded the claim, after the first HTTP answer':
      at('claim', new RegExp(`step (update|create) on \\S*::${serviceIpResource} retired`)) - answered,
  };
  let previous = spawned;
  const phases = Object.fromEntries(steps.map(([name, time]) => {
    const took = time - previous;
    previous = time;
    return [name, took];
  }));
  return { ...phases, 'in all (traced)': answered - spawned, ...alongside };
}
