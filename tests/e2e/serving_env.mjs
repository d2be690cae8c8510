// What the end-to-end tests need from the script that started the services (tests/integration/openai_sdk.sh):
// the gateway's address and key, the served model, and the `tessera` CLI that gives the reference outputs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import OpenAI from 'openai';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name} (tests/integration/openai_sdk.sh does)`);
  return value;
}

export const env = {
  gatewayUrl: required('TESSERA_GATEWAY_URL'),
  reasoningGatewayUrl: process.env.TESSERA_REASONING_GATEWAY_URL ?? '',
  apiKey: required('TESSERA_API_KEY'),
  model: required('TESSERA_MODEL'),
  tesseraBin: required('TESSERA_BIN'),
  kvCacheMemory: process.env.TESSERA_KV_CACHE_MEMORY ?? '16777216',
};

// An SDK client of the gateway; retries are off so that every error reaches the test as it was answered.
export function client({ baseUrl = env.gatewayUrl, apiKey = env.apiKey } = {}) {
  return new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey, maxRetries: 0, timeout: 120_000 });
}

// Runs `tessera generate --input` on the given prompt lines ({prompt} | {messages}, each with sampling_params) and
// returns its JSON objects in input order: the offline engine's answers to compare the served ones with.
export function generateOffline(lines, extraFlags = []) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
  try {
    const input = join(dir, 'prompts.jsonl');
    writeFileSync(input, lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
    const stdout = execFileSync(
      env.tesseraBin,
      ['generate', '--model', env.model, '--kv-cache-memory', env.kvCacheMemory, '--input', input, '--json', ...extraFlags],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 },
    );
    return stdout.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// POSTs JSON to a gateway path with the key; returns {status, body}.
export async function postJson(path, body, { baseUrl = env.gatewayUrl, apiKey = env.apiKey } = {}) {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed };
}
