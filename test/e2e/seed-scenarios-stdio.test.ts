import { afterAll, beforeAll, describe, it } from 'vitest';
import { BerthUnderTest } from './harness.js';
import { scenario1, scenario2, scenario3, scenario4 } from './scenarios/seed-scenarios.js';

describe('seed scenarios over MCP stdio', () => {
  const berth = new BerthUnderTest();
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
