/**
 * npm run sandbox -- up|down|packages|status|info|kill <host>|revive <host>|reboot <host>|partition <host>|heal <host>|exec <host> <cmd...>
 */
import * as sb from './index';

const USAGE = 'usage: npm run sandbox -- up|down|packages|status|info|kill <host>|revive <host>|reboot <host>|partition <host>|heal <host>|exec <host> <cmd...>';

async function main(argv: string[]): Promise<number> {
  const [cmd, host, ...rest] = argv;
  const t0 = Date.now();
  const done = (what: string) => console.log(`${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const needHost = () => {
    if (!host) throw new Error(`${cmd} needs a host: ${sb.hostnames.join(' | ')}`);
    return host;
  };
  switch (cmd) {
    case 'up': {
      const i = await sb.up((s) => console.log(s));
      for (const n of sb.hostnames) console.log(`${n}\t${i.hosts[n].address}\t${i.hosts[n].netns}\t${i.hosts[n].mac}\t${i.hosts[n].hostKey}`);
      done('sandbox up');
      return 0;
    }
    case 'packages': // what up would install, alone: before two sandboxes come up at once (one apt at a time)
      sb.ensurePackages((s) => console.log(s));
      done('sandbox packages');
      return 0;
    case 'down':
      await sb.down();
      done('sandbox down');
      return 0;
    case 'status': {
      const st = await sb.status();
      console.log(JSON.stringify(st, null, 2));
      return st.healthy ? 0 : 1;
    }
    case 'info': {
      const i = sb.info();
      console.log(JSON.stringify({ ...i, operatorPrivateKey: '(secret: ' + i.operatorPrivateKeyPath + ')' }, null, 2));
      return 0;
    }
    case 'kill':
      await sb.kill(needHost());
      done(`${host} killed`);
      return 0;
    case 'revive':
      await sb.revive(needHost());
      done(`${host} revived`);
      return 0;
    case 'reboot':
      await sb.reboot(needHost());
      done(`${host} rebooted`);
      return 0;
    case 'partition':
      await sb.partition(needHost());
      done(`${host} partitioned`);
      return 0;
    case 'heal':
      await sb.heal(needHost());
      done(`${host} healed`);
      return 0;
    case 'exec': {
      const r = await sb.execOn(needHost(), rest);
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      return r.code;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
