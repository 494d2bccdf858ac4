#!/usr/bin/env node
// Builds a JSON Schema (draft 2020-12) per OCSF class that mistbridge maps to, from a checkout of
// the OCSF schema repository (github.com/ocsf/ocsf-schema): attributes merged along `extends` and
// `$include`, types from dictionary.json, objects as $defs (cycles through $ref), enums of `*_id`
// attributes, `required` attributes required, no attribute the class does not define.
// Usage: node test/tools/ocsf-class-schemas.mjs <ocsf-schema checkout> <commit>
// Writes test/fixtures/ocsf/<class_uid>.schema.json. The tests read only those files.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [repo, commit] = process.argv.slice(2);
if (!repo || !commit) throw new Error('usage: ocsf-class-schemas.mjs <ocsf-schema checkout> <commit>');
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'ocsf');
const read = (path) => JSON.parse(readFileSync(join(repo, path), 'utf8'));
const dictionary = read('dictionary.json');
const categories = read('categories.json').attributes;
const version = read('version.json').version;
const CLASSES = ['events/application/api_activity.json', 'events/findings/detection_finding.json', 'events/iam/authentication.json'];

/** A definition's attributes merged along `extends` (parents first) and `$include`. */
function attributesOf(path, kind) {
  const def = read(path);
  let merged = {};
  if (def.extends) {
    const parent = kind === 'event' ? findEvent(def.extends) : `objects/${def.extends}.json`;
    merged = attributesOf(parent, kind);
  }
  const own = { ...def.attributes };
  for (const include of own.$include ?? []) for (const [name, attr] of Object.entries(read(include).attributes ?? {})) merged[name] = { ...merged[name], ...attr, ...(include.startsWith('profiles/') ? { requirement: 'optional' } : {}) };
  delete own.$include;
  for (const [name, attr] of Object.entries(own)) merged[name] = { ...merged[name], ...attr };
  return merged;
}

function findEvent(name) {
  if (name === 'base_event') return 'events/base_event.json';
  for (const dir of Object.keys(categories)) if (existsSync(join(repo, 'events', dir, `${name}.json`))) return `events/${dir}/${name}.json`;
  if (existsSync(join(repo, 'events', name, `${name}.json`))) return `events/${name}/${name}.json`;
  throw new Error(`no event ${name}`);
}

const defs = {};
function baseType(type) {
  let t = type;
  while (dictionary.types.attributes[t]?.type) t = dictionary.types.attributes[t].type;
  return t;
}

function typeSchema(name, attr) {
  const dict = dictionary.attributes[name] ?? {};
  const type = attr.type ?? dict.type;
  const isArray = attr.is_array ?? dict.is_array ?? false;
  let schema;
  if (!type) schema = {};
  else if (type === 'object') schema = { type: 'object' };
  else if (!type.endsWith('_t')) {
    objectDef(type);
    schema = { $ref: `#/$defs/${type}` };
  } else {
    const base = baseType(type);
    schema = { string_t: { type: 'string' }, integer_t: { type: 'integer' }, long_t: { type: 'integer' }, float_t: { type: 'number' }, boolean_t: { type: 'boolean' }, json_t: {} }[base] ?? {};
    // A class's enum adds to the dictionary's (0 Unknown and 99 Other stay allowed).
    const values = attr.enum || dict.enum ? { ...dict.enum, ...attr.enum } : null;
    if (values && (base === 'integer_t' || base === 'long_t')) schema = { ...schema, enum: Object.keys(values).map(Number).sort((a, b) => a - b) };
  }
  return isArray ? { type: 'array', items: schema } : schema;
}

function objectSchema(attributes) {
  const properties = {};
  const required = [];
  for (const [name, attr] of Object.entries(attributes)) {
    properties[name] = typeSchema(name, attr);
    if (attr.requirement === 'required') required.push(name);
  }
  return { type: 'object', properties, required, additionalProperties: false };
}

function objectDef(name) {
  if (defs[name]) return;
  defs[name] = {}; // reserved: cycles end here
  defs[name] = objectSchema(attributesOf(`objects/${name}.json`, 'object'));
}

for (const path of CLASSES) {
  for (const key of Object.keys(defs)) delete defs[key];
  const def = read(path);
  const category = path.split('/')[1];
  const classUid = categories[category].uid * 1000 + def.uid;
  const schema = objectSchema(attributesOf(path, 'event'));
  schema.properties.class_uid = { const: classUid };
  schema.properties.category_uid = { const: categories[category].uid };
  const file = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $comment: `OCSF ${version} class ${def.caption} (${classUid}), built from github.com/ocsf/ocsf-schema at ${commit} by test/tools/ocsf-class-schemas.mjs`,
    title: def.caption,
    ...schema,
    $defs: { ...defs },
  };
  writeFileSync(join(out, `${classUid}.schema.json`), `${JSON.stringify(file, null, 1)}\n`);
  console.log(`wrote ${classUid}.schema.json (${Object.keys(defs).length} objects)`);
}
