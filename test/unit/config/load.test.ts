import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, describeConfig, loadConfig } from '../../../src/config/load';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('loadConfig (CONTRACT section 2)', () => {
  it('has the documented defaults', () => {
    // No cgroup to read: the defaults, whatever memory limit the machine running the tests has.
    const config = loadConfig({ MIST_WEBHOOK_SECRET: 's', MISTBRIDGE_CGROUP_ROOT: '/nonexistent' });
    expect(config.http).toEqual({
      port: 8080,
      adminPort: 8081,
      host: '0.0.0.0',
      adminHost: '0.0.0.0',
      apiToken: null,
      trustedProxies: null,
      maxConnectionsPerSource: 64,
      protectedMode: false,
      tls: null,
      maxConnections: 1024,
      requestTimeoutMs: 30000,
    });
    expect(loadConfig({}).http).toMatchObject({ host: '127.0.0.1', adminHost: '127.0.0.1', adminPort: 8081 });
    expect(config.ingress.maxReadingBytes).toBe(67108864);
    expect(config.memoryBudget).toBeNull();
    expect(config.auth.allowedSources).toBeNull();
    expect(config.normalizer.privacy.mode).toBe('off');
    expect(config.ingress.maxBodyBytes).toBe(5242880);
    expect(config.ingress.timeoutMs).toBe(5000);
    expect(config.drainTimeoutMs).toBe(10000);
    expect(config.topicPrefix).toBe('mist.');
    expect(config.kafka).toBeNull();
    expect(config.splunk).toBeNull();
    expect(config.correlation.securityQuietWindowMs).toBe(86400_000);
    expect(config.normalizer.dedupeWindowMs).toBe(600_000);
    expect(config.dataDir).toBe('./data');
    expect(config.roles).toEqual(['ingress', 'normalizer', 'splunk', 'metrics', 'correlator', 'mistapi', 'notify']);
    expect(Object.isFrozen(config.http)).toBe(true);
  });

  it('names every bad variable in one error, without secret values', () => {
    const found = problems({
      PORT: 'eighty',
      MAX_BODY_BYTES: '-1',
      SPLUNK_HEC_URL: 'ftp://x',
      SPLUNK_HEC_ACK: 'maybe',
      LOG_LEVEL: 'loud',
      MISTBRIDGE_ROLES: 'ingress,printer',
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_PASSWORD: '',
    });
    const named = found.map((p) => p.split(':')[0]);
    expect(named).toEqual(
      expect.arrayContaining(['PORT', 'MAX_BODY_BYTES', 'SPLUNK_HEC_URL', 'SPLUNK_HEC_ACK', 'LOG_LEVEL', 'MISTBRIDGE_ROLES', 'KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD']),
    );
    expect(() => loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud' })).toThrow(/PORT: .*LOG_LEVEL: /);
  });

  it('never echoes a secret in its messages', () => {
    const secretToken = 'zz-very-secret-token-zz';
    const found = problems({ SPLUNK_HEC_URL: 'https://splunk:8088', SPLUNK_HEC_TOKEN: ' ', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: secretToken, PORT: '-1' });
    expect(found.join(' ')).not.toContain(secretToken);
    expect(JSON.stringify(describeConfig(loadConfig({ MIST_WEBHOOK_SECRET: secretToken, SPLUNK_HEC_URL: 'https://s:8088', SPLUNK_HEC_TOKEN: secretToken })))).not.toContain(secretToken);
  });

  it('checks the edge settings together', () => {
    expect(problems({ TLS_CERT_FILE: '/x.pem' })).toEqual(['TLS_CERT_FILE/TLS_KEY_FILE: set both or neither']);
    expect(problems({ PRIVACY_MODE: 'hash' })).toEqual(['PRIVACY_HASH_KEY: required when PRIVACY_MODE is hash']);
    expect(problems({ MIST_SOURCE_ALLOW: '54.193.71.17,10.0.0.0/33' })[0]).toMatch(/^MIST_SOURCE_ALLOW: /);
    expect(loadConfig({ MIST_SOURCE_ALLOW: '54.193.71.17, 34.231.34.177/32,::1', MIST_WEBHOOK_TOKEN: 't' }).auth.allowedSources).toEqual([
      '54.193.71.17',
      '34.231.34.177/32',
      '::1',
    ]);
  });

  it('requires the HEC token once a HEC URL is set', () => {
    expect(problems({ SPLUNK_HEC_URL: 'https://splunk:8088' })).toEqual(['SPLUNK_HEC_TOKEN: required when SPLUNK_HEC_URL is set']);
  });

  describe('protected mode', () => {
    it('keeps an unauthenticated ingress on loopback', () => {
      const config = loadConfig({ HOST: '0.0.0.0' });
      expect(config.http).toMatchObject({ host: '127.0.0.1', protectedMode: true });
    });
    it('respects a loopback HOST', () => {
      expect(loadConfig({ HOST: '::1' }).http.host).toBe('::1');
    });
    it.each([{ MIST_WEBHOOK_SECRET: 's' }, { MIST_WEBHOOK_TOKEN: 't' }, { MIST_ALLOW_UNSIGNED: 'true' }])('ends with %o', (env) => {
      expect(loadConfig(env).http).toMatchObject({ host: '0.0.0.0', protectedMode: false });
    });
    it('does not apply to processes without the ingress role', () => {
      expect(loadConfig({ MISTBRIDGE_ROLES: 'normalizer,splunk' }).http).toMatchObject({ host: '0.0.0.0', protectedMode: false });
    });
  });

  it('reads the YAML file, with the environment winning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-config-'));
    const file = join(dir, 'mistbridge.yaml');
    writeFileSync(
      file,
      [
        'PORT: 9000',
        'LOG_LEVEL: debug',
        'severity:',
        '  map: { WARN: high }',
        '  overrides:',
        '    alarms: { rogue_ap: low }',
        'topics:',
        '  client-sessions: { drop: true }',
        '  alarms: { index: netops, sourcetype: "mist:alarm" }',
      ].join('\n'),
    );
    const config = loadConfig({ MISTBRIDGE_CONFIG: file, LOG_LEVEL: 'warn', MIST_WEBHOOK_TOKEN: 't' });
    expect(config.http.port).toBe(9000);
    expect(config.logLevel).toBe('warn');
    expect(config.normalizer.severityMap).toEqual({ warn: 'high' });
    expect(config.normalizer.severityOverrides).toEqual({ alarms: { rogue_ap: 'low' } });
    expect(config.normalizer.routes).toEqual({ 'client-sessions': { drop: true }, alarms: { index: 'netops', sourcetype: 'mist:alarm' } });
  });

  it('rejects unknown or mistyped keys in the YAML file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-config-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'topics:\n  alarms: { dorp: true }\nseverity:\n  map: { warn: urgent }\n');
    const found = problems({ MISTBRIDGE_CONFIG: file });
    expect(found.some((p) => p.includes('topics.alarms'))).toBe(true);
    expect(found.some((p) => p.includes('severity.map.warn'))).toBe(true);
  });

  it('refuses an ingress without the normalizer on the embedded bus, naming both variables; every other subset runs', () => {
    const found = problems({ MISTBRIDGE_ROLES: 'ingress', MIST_WEBHOOK_SECRET: 's' });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/MISTBRIDGE_ROLES.*KAFKA_BROKERS/);
    expect(problems({ MISTBRIDGE_ROLES: 'ingress,splunk,metrics', MIST_WEBHOOK_SECRET: 's' })).toHaveLength(1);
    for (const roles of ['ingress,normalizer', 'normalizer', 'splunk', 'correlator,metrics', 'splunk,metrics,correlator']) {
      expect({ roles, problems: problems({ MISTBRIDGE_ROLES: roles }) }).toEqual({ roles, problems: [] });
    }
    expect(problems({ MISTBRIDGE_ROLES: 'ingress', KAFKA_BROKERS: 'k:9092', MIST_WEBHOOK_SECRET: 's' })).toEqual([]);
  });

  it('refuses a reading bound below one body when it is set, and raises a derived one to a body', () => {
    expect(problems({ INGRESS_MAX_READING_BYTES: '1048576', MAX_BODY_BYTES: '5242880' })).toEqual([expect.stringMatching(/^INGRESS_MAX_READING_BYTES: must be at least MAX_BODY_BYTES \(5242880\)/)]);
    const derived = loadConfig({ MEMORY_LIMIT_MB: '64', MAX_BODY_BYTES: String(20 * 1024 * 1024), MISTBRIDGE_CGROUP_ROOT: '/nonexistent' });
    expect(derived.ingress.maxReadingBytes).toBe(20 * 1024 * 1024);
  });

  it('accepts whole numbers in the forms deployment tools write them, and nothing else', () => {
    const config = loadConfig({ MAX_BODY_BYTES: '5.24288e+06', DRAIN_TIMEOUT_MS: '10000.0', SECURITY_QUIET_WINDOW_S: '2.592e+06', MIST_WEBHOOK_SECRET: 's' });
    expect(config.ingress.maxBodyBytes).toBe(5242880);
    expect(config.drainTimeoutMs).toBe(10000);
    expect(config.correlation.securityQuietWindowMs).toBe(2592000 * 1000);
    for (const bad of ['5.5', '1e-3', '0x10', 'five', '1,000', 'Infinity']) {
      expect(problems({ MAX_BODY_BYTES: bad }).some((p) => p.startsWith('MAX_BODY_BYTES:'))).toBe(true);
    }
  });

  it('reports a YAML syntax error by line and column, never the offending text (it may be the secret)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-config-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'PORT: 9000\nMIST_WEBHOOK_SECRET: [s3cr3t-value\nLOG_LEVEL: info\n');
    const found = problems({ MISTBRIDGE_CONFIG: file });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/not valid YAML \(line \d+, column \d+\)/);
    expect(found.join(' ')).not.toContain('s3cr3t');
  });

  it('keeps a numeric-looking secret from the YAML file exactly as written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-config-'));
    const file = join(dir, 'numeric.yaml');
    writeFileSync(file, 'MIST_WEBHOOK_SECRET: 0123\nSPLUNK_HEC_TOKEN: 1e3\nSPLUNK_HEC_URL: http://hec:8088\nPORT: 9000\n');
    const config = loadConfig({ MISTBRIDGE_CONFIG: file });
    expect(config.auth.secrets).toEqual(['0123']);
    expect(config.splunk!.token).toBe('1e3');
    expect(config.http.port).toBe(9000);
  });

  it('accepts either spelling of a topic in the file and keeps the canonical one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-config-'));
    const file = join(dir, 'topics.yaml');
    writeFileSync(file, 'topics:\n  location_asset: { drop: true }\nseverity:\n  overrides:\n    Device_Events: { AP_RESTARTED: low }\n');
    const config = loadConfig({ MISTBRIDGE_CONFIG: file });
    expect(config.normalizer.routes).toEqual({ 'location-asset': { drop: true } });
    expect(config.normalizer.severityOverrides).toEqual({ 'device-events': { AP_RESTARTED: 'low' } });
  });

  it('never logs credentials inside SPLUNK_HEC_URL', () => {
    const described = JSON.stringify(describeConfig(loadConfig({ SPLUNK_HEC_URL: 'https://svc-user:hunter2@splunk:8088/prefix', SPLUNK_HEC_TOKEN: 't' })));
    expect(described).not.toContain('hunter2');
    expect(described).not.toContain('svc-user');
    expect(described).toContain('splunk:8088/prefix');
  });

  it('takes OAuth2 settings together or not at all, and never together with the static token', () => {
    const oauth = { MIST_OAUTH2_JWKS_URL: 'https://idp.example.com/jwks', MIST_OAUTH2_ISSUER: 'https://idp.example.com/', MIST_OAUTH2_AUDIENCE: 'mistbridge' };
    expect(loadConfig(oauth).auth.oauth2).toEqual({ jwksUrl: 'https://idp.example.com/jwks', issuer: 'https://idp.example.com/', audience: 'mistbridge' });
    expect(loadConfig(oauth).http.protectedMode).toBe(false);
    expect(problems({ MIST_OAUTH2_JWKS_URL: oauth.MIST_OAUTH2_JWKS_URL })).toEqual([expect.stringMatching(/set the three together/)]);
    expect(problems({ ...oauth, MIST_WEBHOOK_TOKEN: 'secret-token' })).toEqual([expect.stringMatching(/MIST_WEBHOOK_TOKEN\/MIST_OAUTH2_JWKS_URL/)]);
    expect(problems({ ...oauth, MIST_WEBHOOK_TOKEN: 'secret-token' }).join(' ')).not.toContain('secret-token');
  });

  it('reads MIST_WEBHOOK_SECRETS_FILE, naming the variable and never the content when it cannot', () => {
    expect(problems({ MIST_WEBHOOK_SECRETS_FILE: '/nonexistent/secrets' })).toEqual(['MIST_WEBHOOK_SECRETS_FILE: cannot read /nonexistent/secrets: ENOENT']);
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-config-'));
    writeFileSync(join(dir, 's'), 'a\r\n# comment\n b \n');
    expect(loadConfig({ MIST_WEBHOOK_SECRET: 'main', MIST_WEBHOOK_SECRETS_FILE: join(dir, 's') }).auth.secrets).toEqual(['main', 'a', 'b']);
  });
});
