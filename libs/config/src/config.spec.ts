import { ConfigError, loadConfig } from './config';

const base = { WFS_DATA_ROOT: '/tmp/wfs-config-spec' };

describe('executor settings (CONTRACT 5.1)', () => {
  test('local by default, 8 jobs at once; a batch executor bounds jobs in flight, 1000 by default', () => {
    expect(loadConfig(base)).toMatchObject({ executor: { kind: 'local' }, workerConcurrency: 8 });
    expect(
      loadConfig({
        ...base,
        WFS_EXECUTOR: 'slurm',
        WFS_SLURM_PARTITION: 'batch',
        WFS_SLURM_ACCOUNT: 'vlass',
        WFS_SLURM_EXTRA: '--qos=normal  --reservation=survey',
        SLURM_CONF: '/etc/slurm/other.conf',
      }),
    ).toMatchObject({
      workerConcurrency: 1000,
      executor: {
        kind: 'slurm',
        bin: null,
        partition: 'batch',
        account: 'vlass',
        extra: ['--qos=normal', '--reservation=survey'],
        toolEnv: { SLURM_CONF: '/etc/slurm/other.conf' },
      },
    });
    expect(
      loadConfig({ ...base, WFS_EXECUTOR: 'htcondor', WFS_CONDOR_SUBMIT_EXTRA: 'a = b' }),
    ).toMatchObject({ executor: { kind: 'htcondor', submitExtra: 'a = b', bin: null } });
  });

  test.each([
    [{ WFS_EXECUTOR: 'kubernetes' }, /WFS_EXECUTOR must be local, slurm or htcondor/],
    [{ WFS_EXECUTOR: 'slurm', WFS_SLURM_EXTRA: '--output=/tmp/x' }, /may not set --output/],
    [{ WFS_EXECUTOR: 'slurm', WFS_SLURM_EXTRA: '--wrap' }, /may not set --wrap/],
    [{ WFS_EXECUTOR: 'slurm', WFS_SLURM_EXTRA: '-J x' }, /may not set -J/],
    [{ WFS_EXECUTOR: 'slurm', WFS_SLURM_PARTITION: 'a;b' }, /WFS_SLURM_PARTITION must be one word/],
    [{ WFS_EXECUTOR: 'slurm', WFS_SLURM_BIN: 'relative/bin' }, /WFS_SLURM_BIN must be an existing/],
    [{ WFS_EXECUTOR: 'htcondor', WFS_CONDOR_BIN: '/no/such/dir' }, /WFS_CONDOR_BIN must be/],
  ])('%j is refused, naming the variable', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });
});

describe('row retention (WFS_JOB_ROWS_RETENTION_DAYS)', () => {
  test('unset or empty keeps rows for ever; a number of days turns it on; anything else is refused', () => {
    expect(loadConfig(base).jobRowsRetentionDays).toBeNull();
    expect(
      loadConfig({ ...base, WFS_JOB_ROWS_RETENTION_DAYS: '' }).jobRowsRetentionDays,
    ).toBeNull();
    expect(loadConfig({ ...base, WFS_JOB_ROWS_RETENTION_DAYS: '90' }).jobRowsRetentionDays).toBe(
      90,
    );
    expect(loadConfig({ ...base, WFS_JOB_ROWS_RETENTION_DAYS: '0' }).jobRowsRetentionDays).toBe(0);
    for (const bad of ['-1', '90d', '1.5', '40000'])
      expect(() => loadConfig({ ...base, WFS_JOB_ROWS_RETENTION_DAYS: bad })).toThrow(
        /WFS_JOB_ROWS_RETENTION_DAYS.*must be an integer from 0 to 36500/,
      );
  });
});
