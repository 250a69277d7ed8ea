import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServerCounters } from './metrics-counters.js';
import { MetricsCollector } from './metrics.js';

describe('fleet metrics', () => {
  const base = { runtimes: () => [], firewalls: () => [], counters: new ServerCounters(), databaseDegraded: () => false };

  it('count what was sent, received, applied, rejected and how far behind the node is', async () => {
    const fleet = { redis: 'unix:///r.sock', node: 'mx1', connected: true, behind: 4, sent: 10, received: 7, applied: 6, rejected: 2, queued: 0 };
    const text = await new MetricsCollector({ ...base, fleet: () => fleet }).collect();
    for (const line of [
      'portcullis_fleet_connected 1',
      'portcullis_fleet_sent_total 10',
      'portcullis_fleet_received_total 7',
      'portcullis_fleet_applied_total 6',
      'portcullis_fleet_rejected_total 2',
      'portcullis_fleet_behind 4',
      'portcullis_fleet_queued 0',
    ]) {
      assert.ok(text.includes(`\n${line}\n`), line);
    }
  });

  it('show no fleet series when sharing is off', async () => {
    const text = await new MetricsCollector({ ...base, fleet: () => null }).collect();
    assert.ok(!text.includes('portcullis_fleet_'));
  });
});
