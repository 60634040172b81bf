/**
 * The templating rules of issue 4 (2)–(4), one table row per rule, run through the same four
 * rounds a step's inputs go through (`resolveStepInputs`). Blocks and variables come from a
 * local blocks file and, in the API rows, from a local stand-in of the Prefect REST API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowsyncError, isFlowsyncError } from '../../src/errors.js';
import { clearSecrets, scrubSecrets } from '../../src/secrets.js';
import { blocksFromText } from '../../src/steps/sources/blocks-file.js';
import { createBlockLookup } from '../../src/steps/sources/lookup.js';
import { prefectApiSource } from '../../src/steps/sources/prefect-api.js';
import { applyValues, bakeOutputs, findPlaceholders, NOT_SET, resolveStepInputs, type BlockLookup } from '../../src/steps/templating.js';
import { pythonStr } from '../../src/steps/python-str.js';
import { startPrefectApi, type PrefectApiServer } from '../servers/prefect-api.js';

const env = { HOME: '/home/flow', REGION: 'eu-west-1', EMPTY: '', DEPLOY_ENV: 'prod' };

const outputs = {
  push_code: { bucket: 'my-bucket', folder: 'flows/etl' },
  bucket: 'my-bucket',
  count: 3,
  ratio: 0.5,
  flag: true,
  off: false,
  nothing: null,
  tags: ['a', 'b'],
  nested: { list: [{ name: 'first' }, { name: 'second' }], deep: { k: 'v' } },
  quote: "it's",
};

const blocksYaml = `
blocks:
  aws-credentials:
    prod:
      aws_access_key_id: AKIAEXAMPLE
      aws_secret_access_key: s3cr3t-value-123
      region_name: us-east-1
      aws_client_parameters: { endpoint_url: "{{ $S3_URL }}", verify: false }
  secret:
    token: { value: ghp_tokenvalue123 }
  json:
    cfg: { value: { key: [10, 20], name: cfg } }
    listy: { value: [a, b] }
  string:
    home-ref: { value: "{{ $HOME }}/flows" }
    std-ref: { value: "{{ REGION }}" }
  custom:
    thing: { value: 1, other: 2 }
variables:
  env_name: staging
  replicas: 3
  settings: { debug: true }
  enabled: false
`;

function fileLookup(): BlockLookup {
  return createBlockLookup([blocksFromText(blocksYaml, 'blocks.yaml')]);
}

async function resolve(template: unknown, lookup: BlockLookup = fileLookup(), e: Record<string, string> = env): Promise<unknown> {
  const r = await resolveStepInputs({ v: template }, outputs, lookup, e);
  return 'v' in r ? r['v'] : '<removed>';
}

type Row = [rule: string, template: unknown, expected: unknown];

const rows: Row[] = [
  // (2) placeholders and types
  ['no placeholder: unchanged', 'plain text', 'plain text'],
  ['non-string values pass through', 42, 42],
  ['whole value keeps a string', '{{ bucket }}', 'my-bucket'],
  ['whole value keeps a number', '{{ count }}', 3],
  ['whole value keeps a float', '{{ ratio }}', 0.5],
  ['whole value keeps a boolean', '{{ flag }}', true],
  ['whole value keeps null', '{{ nothing }}', null],
  ['whole value keeps a list', '{{ tags }}', ['a', 'b']],
  ['whole value keeps a dict', '{{ push_code }}', { bucket: 'my-bucket', folder: 'flows/etl' }],
  ['no spaces inside braces', '{{bucket}}', 'my-bucket'],
  ['extra spaces inside braces', '{{    bucket   }}', 'my-bucket'],
  ['dotted path', '{{ push_code.folder }}', 'flows/etl'],
  ['[i] index then key', '{{ nested.list[1].name }}', 'second'],
  ['.i index', '{{ nested.list.0.name }}', 'first'],
  ['negative index, as Python', '{{ tags[-1] }}', 'b'],
  ['embedded string', 's3://{{ push_code.bucket }}/{{ push_code.folder }}', 's3://my-bucket/flows/etl'],
  ['embedded repeated placeholder', '{{ bucket }}-{{ bucket }}', 'my-bucket-my-bucket'],
  ['embedded True (Python spelling)', 'flag={{ flag }}', 'flag=True'],
  ['embedded False', 'off={{ off }}', 'off=False'],
  ['embedded None', 'n={{ nothing }}', 'n=None'],
  ['embedded number', 'n={{ count }}', 'n=3'],
  ['embedded float', 'r={{ ratio }}', 'r=0.5'],
  ['embedded list as Python prints it', 't={{ tags }}', "t=['a', 'b']"],
  ['embedded dict as Python prints it', 'd={{ nested.deep }}', "d={'k': 'v'}"],
  ['embedded string with a quote stays raw', 'q={{ quote }}', "q=it's"],
  ['unresolved whole value: key removed', '{{ missing }}', '<removed>'],
  ['unresolved dotted whole value: key removed', '{{ push_code.nope }}', '<removed>'],
  ['index out of range: key removed', '{{ tags[5] }}', '<removed>'],
  ['unresolved embedded: blanked', 'x-{{ missing }}-y', 'x--y'],
  ['unresolved items dropped from a list', ['{{ bucket }}', '{{ missing }}', 'keep'], ['my-bucket', 'keep']],
  ['nested mapping: unresolved key removed, others kept', { a: '{{ count }}', b: '{{ missing }}', c: { d: '{{ flag }}' } }, { a: 3, c: { d: true } }],
  ['env whole value', '{{ $REGION }}', 'eu-west-1'],
  ['env embedded', 'region={{ $REGION }}', 'region=eu-west-1'],
  ['env unset, whole value: "" (not removed)', '{{ $NOT_SET_ANYWHERE }}', ''],
  ['env unset, embedded: ""', 'a{{ $NOT_SET_ANYWHERE }}b', 'ab'],
  ['env set to empty', '[{{ $EMPTY }}]', '[]'],
  ['invalid env name $$ blanks', 'a{{ $$ }}b', 'ab'],
  ['not a placeholder (space inside name)', '{{ not valid }}', '{{ not valid }}'],
  ['Jinja-like syntax is left alone', '{% if x %}', '{% if x %}'],
  ['standard and env mixed', '{{ bucket }}/{{ $DEPLOY_ENV }}', 'my-bucket/prod'],

  // (4) blocks
  ['block whole value: the data dict (type kept)', '{{ prefect.blocks.aws-credentials.prod }}', {
    aws_access_key_id: 'AKIAEXAMPLE',
    aws_secret_access_key: 's3cr3t-value-123',
    region_name: 'us-east-1',
    // second env pass: {{ $S3_URL }} inside the block data is filled from the environment
    aws_client_parameters: { endpoint_url: '', verify: false },
  }],
  ['block key path', '{{ prefect.blocks.aws-credentials.prod.region_name }}', 'us-east-1'],
  ['block nested key path', '{{ prefect.blocks.aws-credentials.prod.aws_client_parameters.verify }}', false],
  ['only-value block is unwrapped (Secret)', '{{ prefect.blocks.secret.token }}', 'ghp_tokenvalue123'],
  ['only-value JSON block unwrapped, then key path', '{{ prefect.blocks.json.cfg.key[1] }}', 20],
  ['key path starting with value is not unwrapped twice', '{{ prefect.blocks.json.cfg.value.name }}', 'cfg'],
  ['list JSON block [i]', '{{ prefect.blocks.json.listy.value[1] }}', 'b'],
  ['block with more than value is not unwrapped', '{{ prefect.blocks.custom.thing }}', { value: 1, other: 2 }],
  ['embedded scalar block, printed as Python', 'token {{ prefect.blocks.secret.token }}', 'token ghp_tokenvalue123'],
  ['embedded boolean block field', 'verify={{ prefect.blocks.aws-credentials.prod.aws_client_parameters.verify }}', 'verify=False'],
  ['second env pass: $ENV inside a block value', '{{ prefect.blocks.string.home-ref }}', '/home/flow/flows'],
  ['second env pass: standard name looked up in env', '{{ prefect.blocks.string.std-ref }}', 'eu-west-1'],

  // (4) variables
  ['variable whole value (string)', '{{ prefect.variables.env_name }}', 'staging'],
  ['variable whole value keeps a number', '{{ prefect.variables.replicas }}', 3],
  ['variable whole value keeps a dict', '{{ prefect.variables.settings }}', { debug: true }],
  ['variable whole value keeps false', '{{ prefect.variables.enabled }}', false],
  ['variable embedded', 'env-{{ prefect.variables.env_name }}', 'env-staging'],
  ['variable embedded number', 'n={{ prefect.variables.replicas }}', 'n=3'],
  ['variable embedded dict as Python prints it', 's={{ prefect.variables.settings }}', "s={'debug': True}"],
  ['missing variable whole value: ""', '{{ prefect.variables.nope }}', ''],
  ['missing variable embedded: removed', 'a-{{ prefect.variables.nope }}-b', 'a--b'],
];

describe('templating rules (issue 4 §2–4)', () => {
  it.each(rows)('%s', async (_rule, template, expected) => {
    expect(await resolve(template)).toEqual(expected);
  });

  it('a later step sees an earlier step both flat and under its id', async () => {
    const r = await resolveStepInputs({ a: '{{ push_code.bucket }}', b: '{{ bucket }}' }, outputs, fileLookup(), env);
    expect(r).toEqual({ a: 'my-bucket', b: 'my-bucket' });
  });

  it('errors: missing key path names the block and the path', async () => {
    const err = await resolve('{{ prefect.blocks.aws-credentials.prod.nope }}').catch((e: unknown) => e);
    expect(isFlowsyncError(err, 'INVALID_INPUT')).toBe(true);
    expect((err as Error).message).toMatch(/could not resolve the key path "nope" in block aws-credentials\/prod/);
  });

  it('errors: an embedded block placeholder that is a mapping', async () => {
    const err = await resolve('creds: {{ prefect.blocks.aws-credentials.prod }}').catch((e: unknown) => e);
    expect(isFlowsyncError(err, 'INVALID_INPUT')).toBe(true);
    expect((err as Error).message).toMatch(/is a mapping, and a block placeholder inside other text must give a single value/);
  });

  it('errors: a missing block names it and where it was looked for', async () => {
    const err = await resolve('{{ prefect.blocks.secret.absent }}').catch((e: unknown) => e);
    expect(isFlowsyncError(err, 'NOT_FOUND')).toBe(true);
    expect((err as Error).message).toMatch(/Block secret\/absent .* was not found\. Looked in: blocks file blocks\.yaml/);
  });

  it('errors: a block placeholder with no source configured says how to add one', async () => {
    const err = await resolve('{{ prefect.blocks.secret.token }}', createBlockLookup([])).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/pass --blocks FILE .* or set PREFECT_API_URL/);
  });

  it('errors: a block placeholder without a name', async () => {
    const err = await resolve('{{ prefect.blocks.secret }}').catch((e: unknown) => e);
    expect(isFlowsyncError(err, 'INVALID_INPUT')).toBe(true);
    expect((err as Error).message).toMatch(/prefect\.blocks\.<block-type-slug>\.<block-name>/);
  });

  it('every resolved secret-looking block value is registered and scrubbed from messages', async () => {
    clearSecrets();
    await resolve('{{ prefect.blocks.aws-credentials.prod }}');
    await resolve('{{ prefect.blocks.secret.token }}');
    expect(scrubSecrets('key s3cr3t-value-123 and ghp_tokenvalue123')).toBe('key *** and ***');
    expect(new FlowsyncError('INTERNAL', 'leak ghp_tokenvalue123').message).toBe('leak ***');
    // Region names are not secrets: they stay readable.
    expect(scrubSecrets('us-east-1')).toBe('us-east-1');
  });

  it('findPlaceholders classifies names', () => {
    expect(findPlaceholders('{{ a.b }} {{ $X }} {{ prefect.blocks.s.n }} {{ prefect.variables.v }} {{ a.b }}').map((p) => [p.name, p.kind])).toEqual([
      ['a.b', 'standard'],
      ['$X', 'env'],
      ['prefect.blocks.s.n', 'block'],
      ['prefect.variables.v', 'variable'],
    ]);
    // Unicode letters count as \w, as in Python.
    expect(findPlaceholders('{{ größe }}').map((p) => p.name)).toEqual(['größe']);
  });
});

describe('baking push outputs into pull steps (remove_notset=False)', () => {
  it('fills resolved placeholders and keeps the rest for run time', () => {
    const step = {
      bucket: '{{ push_code.bucket }}',
      folder: '{{ push_code.folder }}',
      credentials: '{{ prefect.blocks.aws-credentials.prod }}',
      later: '{{ pull_code.directory }}',
      text: 'in {{ push_code.folder }} as {{ unknown }} on {{ $HOME }}',
    };
    expect(bakeOutputs(step, outputs, env)).toEqual({
      bucket: 'my-bucket',
      folder: 'flows/etl',
      credentials: '{{ prefect.blocks.aws-credentials.prod }}',
      later: '{{ pull_code.directory }}',
      // env placeholders wait for the machine that runs the pull
      text: 'in flows/etl as {{ unknown }} on {{ $HOME }}',
    });
  });

  it('applyValues returns NOT_SET for an unresolved whole value', () => {
    expect(applyValues('{{ x }}', {}, { removeNotSet: true, env: {} })).toBe(NOT_SET);
  });
});

describe('Python str() of embedded values', () => {
  it.each<[unknown, string]>([
    [true, 'True'],
    [null, 'None'],
    [10, '10'],
    [-0.25, '-0.25'],
    [0.00001, '1e-05'],
    [1.5e-7, '1.5e-07'],
    [1.5e16, '15000000000000000'], // integral: printed as the YAML int it most likely was
    [123456.789, '123456.789'],
    [Infinity, 'inf'],
    [['x', 1, null, false], "['x', 1, None, False]"],
    [{ a: "it's" }, `{'a': "it's"}`],
    [{ a: 'say "hi"' }, `{'a': 'say "hi"'}`],
    [{ a: 'both \' and "' }, `{'a': 'both \\' and "'}`],
    [['line\nbreak', 'back\\slash'], "['line\\nbreak', 'back\\\\slash']"],
    [{}, '{}'],
  ])('str(%j) = %s', (value, expected) => {
    expect(pythonStr(value)).toBe(expected);
  });
});

describe('blocks and variables from the Prefect API', () => {
  let api: PrefectApiServer;
  const apiKey = 'pnu_apikey_0123456789';

  beforeAll(async () => {
    api = await startPrefectApi(
      {
        blocks: {
          'aws-credentials': { prod: { aws_access_key_id: 'AKIAAPI', aws_secret_access_key: 'api-secret-xyz', region_name: 'eu-central-1' } },
          secret: { 'gh-token': { value: 'ghp_fromapi_456' }, shared: { value: 'from-api' } },
        },
        blockDocuments: { '5f0c6a1e-0000-4000-8000-000000000001': { bucket: 'ref-bucket' } },
        variables: { env_name: 'production', limits: { cpu: 2 } },
      },
      { apiKey },
    );
  });
  afterAll(async () => {
    await api.stop();
  });

  const apiLookup = (key = apiKey): BlockLookup => createBlockLookup([prefectApiSource({ url: api.url, apiKey: key })]);

  it.each<Row>([
    ['API block whole value: dict', '{{ prefect.blocks.aws-credentials.prod }}', { aws_access_key_id: 'AKIAAPI', aws_secret_access_key: 'api-secret-xyz', region_name: 'eu-central-1' }],
    ['API block key path', '{{ prefect.blocks.aws-credentials.prod.region_name }}', 'eu-central-1'],
    ['API Secret block unwrapped', '{{ prefect.blocks.secret.gh-token }}', 'ghp_fromapi_456'],
    ['API variable whole value', '{{ prefect.variables.env_name }}', 'production'],
    ['API variable keeps a dict', '{{ prefect.variables.limits }}', { cpu: 2 }],
    ['API variable embedded', 'env={{ prefect.variables.env_name }}', 'env=production'],
    ['API missing variable: ""', '{{ prefect.variables.nope }}', ''],
    ['$ref block_document_id', { $ref: { block_document_id: '5f0c6a1e-0000-4000-8000-000000000001' } }, { bucket: 'ref-bucket' }],
  ])('%s', async (_rule, template, expected) => {
    expect(await resolve(template, apiLookup())).toEqual(expected);
  });

  it('asks with include_secrets=true and the bearer key', async () => {
    api.requests.length = 0;
    await resolve('{{ prefect.blocks.secret.gh-token }}', apiLookup());
    expect(api.requests).toEqual([
      { method: 'GET', path: '/api/block_types/slug/secret/block_documents/name/gh-token', query: '?include_secrets=true', authorization: `Bearer ${apiKey}` },
    ]);
  });

  it('reads each block once per run', async () => {
    api.requests.length = 0;
    const lookup = apiLookup();
    await resolveStepInputs({ a: '{{ prefect.blocks.secret.gh-token }}', b: 'x {{ prefect.blocks.secret.gh-token }}' }, {}, lookup, env);
    expect(api.requests).toHaveLength(1);
  });

  it('the local file wins over the API; the API answers what the file lacks', async () => {
    const lookup = createBlockLookup([blocksFromText('blocks: {secret: {shared: {value: from-file}}}', 'b.yaml'), prefectApiSource({ url: api.url, apiKey })]);
    expect(await resolve('{{ prefect.blocks.secret.shared }}', lookup)).toBe('from-file');
    expect(await resolve('{{ prefect.blocks.secret.gh-token }}', lookup)).toBe('ghp_fromapi_456');
  });

  it('a wrong API key is an AUTH error that names PREFECT_API_KEY, without the key', async () => {
    const err = await resolve('{{ prefect.blocks.secret.gh-token }}', apiLookup('pnu_wrong_key_999')).catch((e: unknown) => e);
    expect(isFlowsyncError(err, 'AUTH')).toBe(true);
    expect((err as Error).message).toMatch(/PREFECT_API_KEY/);
    expect((err as Error).message).not.toContain('pnu_wrong_key_999');
  });

  it('a missing block on the API is NOT_FOUND naming the API', async () => {
    const err = await resolve('{{ prefect.blocks.secret.absent }}', apiLookup()).catch((e: unknown) => e);
    expect(isFlowsyncError(err, 'NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain(`Prefect API ${api.url}`);
  });

  it('an unreachable API is UNREACHABLE naming PREFECT_API_URL', async () => {
    const dead = createBlockLookup([prefectApiSource({ url: 'http://127.0.0.1:1/api' })]);
    const err = await resolve('{{ prefect.variables.x }}', dead).catch((e: unknown) => e);
    expect(isFlowsyncError(err, 'UNREACHABLE')).toBe(true);
    expect((err as Error).message).toMatch(/PREFECT_API_URL/);
  });
});
