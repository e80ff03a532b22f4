/** The stack config's validators: the grammar (grammar.ts) built once with zod. */
import { z } from 'zod';
import { grammar } from './grammar';

export const {
  status,
  port,
  prefixLength,
  ipv4Address,
  hostnameOrIp,
  hostName,
  unixUser,
  HOST_KEY_TYPES,
  openSshPublicKey,
  openSshPrivateKey,
  interfaceName,
  interfaceLabel,
  absolutePath,
  databaseName,
  roleName,
  postgresqlVersion,
  clusterName,
  keepDays,
  runTimeout,
  keepCopies,
  freeFloorMegabytes,
  keepDataDirectories,
  maxSlotWalKeepSize,
  maxClockSkew,
  cronSchedule,
  rsyncModule,
  replicationPassword,
  replicationMode,
} = grammar(z);
