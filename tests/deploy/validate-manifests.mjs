// Validates rendered Kubernetes manifests offline against the Kubernetes OpenAPI schemas.
//
// Two layers, both generated from the upstream OpenAPI documents:
//  - kubernetes-models (and @kubernetes-models/prometheus-operator for the Prometheus Operator CRDs): JSON-schema
//    validators for every API type: field types, required fields, enums, int-or-string, quantities.
//  - strict field names (what `kubeconform -strict` adds): the OpenAPI schemas allow unknown fields, which the API
//    server drops silently, so a misspelt field would pass. Every object key is checked against the attribute map
//    of the matching @kubernetes/client-node model. Custom resources (no such model) get the first layer only.
//
// Usage: node validate-manifests.mjs FILE...   (multi-document YAML; exits 1 when any document is invalid)
import fs from 'node:fs';
import { parseAllDocuments } from 'yaml';
import * as clientModels from '@kubernetes/client-node/dist/gen/models/all.js';

// apiVersion → module prefix of the validating model classes.
function modelModule(apiVersion, kind) {
  if (apiVersion.startsWith('monitoring.coreos.com/')) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

async function validateSchema(doc) {
  let module;
  try {
    module = await import(modelModule(doc.apiVersion, doc.kind));
  } catch (error) {
    return [`no schema for ${doc.apiVersion} ${doc.kind} (${error.code || error.message})`];
  }
  const Model = module[doc.kind];
  if (typeof Model !== 'function') return [`no schema for ${doc.apiVersion} ${doc.kind}`];
  try {
    new Model(doc).validate();
    return [];
  } catch (error) {
    if (!Array.isArray(error.errors)) return [String(error.message || error)];
    return error.errors.map((e) => `${e.instancePath || '/'}: ${e.message}${e.params ? ' ' + JSON.stringify(e.params) : ''}`);
  }
}

// The client-node class name of a top-level kind: "apps/v1" + "Deployment" → V1Deployment.
function clientModelName(apiVersion, kind) {
  const version = apiVersion.split('/').pop();
  return version.charAt(0).toUpperCase() + version.slice(1) + kind;
}

// Walks value along the client-node type string, collecting keys that the API type does not define.
function unknownFields(value, type, path, out) {
  if (value === null || value === undefined) return;
  let match = /^Array<(.+)>$/.exec(type);
  if (match) {
    if (Array.isArray(value)) value.forEach((item, i) => unknownFields(item, match[1], `${path}/${i}`, out));
    return;
  }
  match = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (match) {
    if (typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) unknownFields(item, match[1], `${path}/${key}`, out);
    }
    return;
  }
  const model = clientModels[type];
  if (typeof model !== 'function' || typeof model.getAttributeTypeMap !== 'function') return;  // a primitive
  if (typeof value !== 'object' || Array.isArray(value)) return;  // wrong types are the schema layer's to report
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, item] of Object.entries(value)) {
    if (!attributes.has(key)) {
      out.push(`${path || "/"}: unknown field "${key}" (not in ${type})`);
    } else {
      unknownFields(item, attributes.get(key), `${path}/${key}`, out);
    }
  }
}

function strictFieldErrors(doc) {
  const name = clientModelName(doc.apiVersion, doc.kind);
  if (typeof clientModels[name] !== 'function') return { checked: false, errors: [] };
  const errors = [];
  unknownFields(doc, name, '', errors);
  return { checked: true, errors };
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node validate-manifests.mjs FILE...');
    process.exit(2);
  }
  let invalid = 0;
  let valid = 0;
  for (const file of files) {
    const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'));
    for (const parsed of docs) {
      const where = `${file}`;
      if (parsed.errors.length > 0) {
        console.log(`INVALID ${where}: YAML: ${parsed.errors.map((e) => e.message).join('; ')}`);
        invalid++;
        continue;
      }
      const doc = parsed.toJS();
      if (doc === null || doc === undefined) continue;  // an empty document between separators
      const label = `${doc.kind || '?'}/${(doc.metadata && doc.metadata.name) || '?'}`;
      const errors = [];
      if (typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string') {
        errors.push('apiVersion and kind are required');
      } else {
        errors.push(...(await validateSchema(doc)));
        const strict = strictFieldErrors(doc);
        errors.push(...strict.errors);
        if (!strict.checked && !doc.apiVersion.startsWith('monitoring.coreos.com/')) {
          errors.push(`no field list for ${doc.apiVersion} ${doc.kind}`);
        }
      }
      if (!doc.metadata || typeof doc.metadata.name !== 'string' ||
          !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(doc.metadata.name) || doc.metadata.name.length > 253) {
        errors.push('metadata.name must be a DNS subdomain name');
      }
      if (errors.length > 0) {
        invalid++;
        console.log(`INVALID ${where} ${label}:`);
        for (const e of errors) console.log(`  ${e}`);
      } else {
        valid++;
        console.log(`valid ${where} ${doc.apiVersion} ${label}`);
      }
    }
  }
  console.log(`${valid} valid, ${invalid} invalid`);
  process.exit(invalid > 0 ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
