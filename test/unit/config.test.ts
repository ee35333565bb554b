import { describe, expect, it } from 'vitest';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_IMAGE, loadConfig, parseBytes } from '../../src/config.js';
import { BerthError } from '../../src/errors.js';

const MiB = 1024 * 1024;

describe('parseBytes', () => {
  it.each([
    ['1g', 1024 * MiB],
    ['512m', 512 * MiB],
    ['64k', 64 * 1024],
    ['1024', 1024],
    ['7340032', 7340032],
    ['1.5k', 1536],
    [' 2M ', 2 * MiB],
    ['1GiB', 1024 * MiB],
    ['1t', 1024 * 1024 * MiB],
  ])('%j is %d bytes', (input, expected) => {
    expect(parseBytes(input)).toBe(expected);
  });

  it.each([[''], ['lots'], ['1x'], ['-1k'], ['1 g b'], ['k']])('throws on %j', (input) => {
    expect(() => parseBytes(input)).toThrow(/not a size/);
  });
});

describe('loadConfig', () => {
  it('has documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      home: join(homedir(), '.berth'),
      dbPath: join(homedir(), '.berth', 'berth.db'),
      image: DEFAULT_IMAGE,
      execTimeoutS: 120,
      maxExecTimeoutS: 3600,
      maxOutputChars: 50_000,
      maxReadBytes: 7 * MiB,
      maxWriteBytes: 7 * MiB,
      maxRichBytes: 4 * MiB,
      memoryBytes: 1024 * MiB,
      cpus: 1,
      pidsLimit: 256,
      tmpfsBytes: 256 * MiB,
      network: 'none',
      readOnlyRoot: true,
      idleTimeoutS: 1800,
      ttlS: 0,
      maxSandboxes: 100,
      startupTimeoutS: 60,
      sweepIntervalS: 30,
      logLevel: 'info',
    });
  });

  it('reads the environment', () => {
    const config = loadConfig({
      BERTH_HOME: '/tmp/bh',
      BERTH_IMAGE: 'img:1',
      BERTH_EXEC_TIMEOUT_S: '30',
      BERTH_MEMORY: '512m',
      BERTH_MAX_READ_BYTES: '1048576',
      BERTH_CPUS: '0.5',
      BERTH_NETWORK: 'bridge',
      BERTH_READ_ONLY_ROOT: 'false',
      BERTH_MAX_SANDBOXES: '3',
      BERTH_LOG_LEVEL: 'debug',
    });
    expect(config.home).toBe('/tmp/bh');
    expect(config.dbPath).toBe(join('/tmp/bh', 'berth.db'));
    expect(config.image).toBe('img:1');
    expect(config.execTimeoutS).toBe(30);
    expect(config.memoryBytes).toBe(512 * MiB);
    expect(config.maxReadBytes).toBe(MiB);
    expect(config.cpus).toBe(0.5);
    expect(config.network).toBe('bridge');
    expect(config.readOnlyRoot).toBe(false);
    expect(config.maxSandboxes).toBe(3);
    expect(config.logLevel).toBe('debug');
  });

  it('BERTH_DB wins over BERTH_HOME', () => {
    expect(loadConfig({ BERTH_HOME: '/tmp/bh', BERTH_DB: '/tmp/other.db' }).dbPath).toBe('/tmp/other.db');
  });

  it('overrides win over the environment', () => {
    const config = loadConfig({ BERTH_MAX_SANDBOXES: '3' }, { maxSandboxes: 7, readOnlyRoot: false, memoryBytes: '2g' });
    expect(config.maxSandboxes).toBe(7);
    expect(config.readOnlyRoot).toBe(false);
    expect(config.memoryBytes).toBe(2048 * MiB);
  });

  it.each([
    [{ BERTH_EXEC_TIMEOUT_S: 'soon' }],
    [{ BERTH_EXEC_TIMEOUT_S: '0' }],
    [{ BERTH_MAX_SANDBOXES: '-1' }],
    [{ BERTH_MAX_SANDBOXES: '2.5' }],
    [{ BERTH_CPUS: '0' }],
    [{ BERTH_LOG_LEVEL: 'loud' }],
    [{ BERTH_MAX_OUTPUT_CHARS: '10' }],
    [{ BERTH_MEMORY: 'lots' }],
    [{ BERTH_TMPFS_SIZE: '1x' }],
  ])('rejects %j with invalid_argument', (env) => {
    let caught: unknown;
    try {
      loadConfig(env);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BerthError);
    expect((caught as BerthError).code).toBe('invalid_argument');
    expect((caught as BerthError).message).toMatch(/^invalid configuration: /);
  });

  it('names the bad setting', () => {
    expect(() => loadConfig({}, { maxSandboxes: 0 })).toThrow(/maxSandboxes/);
  });
});

describe('configuration errors', () => {
  it('name the environment variable and say what is wrong', () => {
    let message = '';
    try {
      loadConfig({ BERTH_MEMORY: 'lots', BERTH_TOKEN: 'short' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('BERTH_MEMORY');
    expect(message).toContain('not a size: "lots"');
    expect(message).toContain('BERTH_TOKEN');
    expect(() => loadConfig({ BERTH_MAX_READ_BYTES: '-5' })).toThrow(/BERTH_MAX_READ_BYTES/);
  });
});
