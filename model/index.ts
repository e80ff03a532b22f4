/** The runbook's knowledge, with no I/O: providers and the switching logic only ask it questions. */
export * from './statuses';
export * from './validators';
export * from './pairs';
export * from './config';
export * from './transitions';
export * from './generation';
export * from './network';
export * from './situation';
export * from './continuous';
