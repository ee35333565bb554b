import { afterAll, beforeAll, describe, it } from 'vitest';
import { BerthUnderTest, MCP_TRANSPORTS } from './harness.js';
import { scenario1, scenario2, scenario3, scenario4 } from './scenarios/seed-scenarios.js';

// The scenario bodies are written once and run over every MCP transport.
describe.each(MCP_TRANSPORTS)('seed scenarios over MCP %s', (kind) => {
  const berth = new BerthUnderTest({}, kind);
  beforeAll(async () => {
    await berth.start();
  });
  afterAll(async () => {
    await berth.cleanup();
  });

  it('scenario 1: interactive data analysis with stop/resume', () => scenario1(berth));
  it('scenario 2: script development and debugging', () => scenario2(berth));
  it('scenario 3: nested files and dependencies that survive stop/resume', () => scenario3(berth));
  it('scenario 4: lazy start, quick run, full clean-up', () => scenario4(berth));
});
