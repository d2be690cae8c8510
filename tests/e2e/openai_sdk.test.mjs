// The official OpenAI Node SDK against the Tessera gateway (started by tests/integration/openai_sdk.sh): chat and
// completions, streamed and not, n=2, logprobs, stop, seed, echo, include_usage, reasoning_content, errors. Greedy
// answers must equal what the offline engine (`tessera generate`) gives for the same prompt, token for token.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { client, env, generateOffline, postJson } from './serving_env.mjs';

const MESSAGES = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hello there, who are you?' },
];
const PROMPT = 'The quick brown fox';
const CHAT_TOKENS = 8;
const COMPLETION_TOKENS = 12;
const TOP_LOGPROBS = 3;

// Reference outputs of the offline engine, computed once.
let offline;
let offlineReasoning;
const openai = client();

before(() => {
  const [chat, completion, chatLogprobs] = generateOffline([
    { messages: MESSAGES, sampling_params: { temperature: 0, max_tokens: CHAT_TOKENS } },
    { prompt: PROMPT, sampling_params: { temperature: 0, max_tokens: COMPLETION_TOKENS, ignore_eos: true } },
    { messages: MESSAGES, sampling_params: { temperature: 0, max_tokens: CHAT_TOKENS, logprobs: TOP_LOGPROBS } },
  ]);
  offline = { chat, completion, chatLogprobs };
  [offlineReasoning] = generateOffline(
    [{ messages: MESSAGES, sampling_params: { temperature: 0, max_tokens: CHAT_TOKENS } }],
    ['--reasoning-parser', 'deepseek_r1'],
  );
});

// Reads a stream to the end: the chunks, and per choice index the concatenated text and finish reason.
async function drain(stream, textOf) {
  const chunks = [];
  const choices = new Map();
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const choice of chunk.choices) {
      const entry = choices.get(choice.index) ?? { text: '', reasoning: '', finishReason: null, logprobs: [] };
      entry.text += textOf(choice) ?? '';
      entry.reasoning += choice.delta?.reasoning_content ?? '';
      if (choice.finish_reason) {
        assert.equal(entry.finishReason, null, `choice ${choice.index} finished twice`);
        entry.finishReason = choice.finish_reason;
      }
      if (choice.logprobs?.content) entry.logprobs.push(...choice.logprobs.content);
      choices.set(choice.index, entry);
    }
  }
  return { chunks, choices };
}

function assertCreatedNow(created) {
  const now = Date.now() / 1000;
  assert.ok(Number.isInteger(created) && Math.abs(created - now) < 600, `created ${created} is not about now (${now})`);
}

describe('models', () => {
  test('GET /v1/models lists the served model', async () => {
    const models = [];
    for await (const model of openai.models.list()) models.push(model);
    assert.deepEqual(models.map((model) => model.id), [env.model]);
    assert.equal(models[0].object, 'model');
  });
});

describe('chat completions', () => {
  test('greedy text and usage equal the offline engine', async () => {
    const completion = await openai.chat.completions.create({
      model: env.model, messages: MESSAGES, temperature: 0, max_tokens: CHAT_TOKENS,
    });
    assert.match(completion.id, /^chatcmpl-/);
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, env.model);
    assertCreatedNow(completion.created);
    assert.equal(completion.choices.length, 1);
    const [choice] = completion.choices;
    assert.equal(choice.index, 0);
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.message.content, offline.chat.text);
    assert.equal(choice.finish_reason, offline.chat.finish_reason);
    assert.equal(completion.usage.prompt_tokens, offline.chat.prompt_token_ids.length);
    assert.equal(completion.usage.completion_tokens, offline.chat.token_ids.length);
    assert.equal(completion.usage.total_tokens, offline.chat.prompt_token_ids.length + offline.chat.token_ids.length);
  });

  test('the response names the served model when the request omits it', async () => {
    const completion = await openai.chat.completions.create({ messages: MESSAGES, max_completion_tokens: 2 });
    assert.equal(completion.model, env.model);
  });

  test('streamed deltas add up to the greedy text; include_usage adds one usage chunk', async () => {
    const stream = await openai.chat.completions.create({
      model: env.model, messages: MESSAGES, temperature: 0, max_tokens: CHAT_TOKENS, stream: true,
      stream_options: { include_usage: true },
    });
    const { chunks, choices } = await drain(stream, (choice) => choice.delta?.content);
    assert.equal(choices.get(0).text, offline.chat.text);
    assert.equal(choices.get(0).finishReason, offline.chat.finish_reason);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const ids = new Set(chunks.map((chunk) => chunk.id));
    assert.equal(ids.size, 1, 'every chunk carries the same id');
    assert.match(chunks[0].id, /^chatcmpl-/);
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.model, env.model);
      assertCreatedNow(chunk.created);
    }
    const usageChunks = chunks.filter((chunk) => chunk.usage);
    assert.equal(usageChunks.length, 1);
    assert.equal(usageChunks[0], chunks.at(-1), 'the usage chunk comes last');
    assert.deepEqual(usageChunks[0].choices, []);
    assert.equal(usageChunks[0].usage.prompt_tokens, offline.chat.prompt_token_ids.length);
    assert.equal(usageChunks[0].usage.completion_tokens, offline.chat.token_ids.length);
  });

  test('without include_usage no chunk carries usage', async () => {
    const stream = await openai.chat.completions.create({
      model: env.model, messages: MESSAGES, max_tokens: 3, stream: true,
    });
    const { chunks } = await drain(stream, (choice) => choice.delta?.content);
    assert.ok(chunks.length > 0);
    assert.ok(chunks.every((chunk) => !chunk.usage));
  });

  test('logprobs and top_logprobs equal the offline engine', async () => {
    const completion = await openai.chat.completions.create({
      model: env.model, messages: MESSAGES, temperature: 0, max_tokens: CHAT_TOKENS, logprobs: true,
      top_logprobs: TOP_LOGPROBS,
    });
    const content = completion.choices[0].logprobs.content;
    const expected = offline.chatLogprobs.logprobs;
    assert.equal(content.length, expected.length);
    assert.equal(content.length, completion.usage.completion_tokens);
    content.forEach((entry, i) => {
      assert.equal(typeof entry.token, 'string');
      assert.deepEqual(entry.bytes, [...Buffer.from(entry.token, 'utf8')]);
      assert.ok(Math.abs(entry.logprob - expected[i].logprob) < 1e-3, `token ${i}: ${entry.logprob} vs ${expected[i].logprob}`);
      assert.equal(entry.top_logprobs.length, TOP_LOGPROBS);
      // Greedy picks the most likely token, so it heads the alternatives.
      assert.equal(entry.top_logprobs[0].token, entry.token);
      assert.ok(Math.abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-6);
    });
  });

  test('n=2 streams two choices whose tokens and usage add up', async () => {
    const maxTokens = 5;
    const request = {
      model: env.model, messages: MESSAGES, n: 2, temperature: 1, seed: 7, max_tokens: maxTokens, ignore_eos: true,
      logprobs: true,
    };
    const whole = await openai.chat.completions.create(request);
    assert.deepEqual(whole.choices.map((choice) => choice.index), [0, 1]);
    for (const choice of whole.choices) {
      assert.equal(choice.finish_reason, 'length');
      assert.equal(choice.logprobs.content.length, maxTokens);
    }
    assert.equal(whole.usage.completion_tokens, 2 * maxTokens);

    const stream = await openai.chat.completions.create({
      ...request, stream: true, stream_options: { include_usage: true },
    });
    const { chunks, choices } = await drain(stream, (choice) => choice.delta?.content);
    assert.deepEqual([...choices.keys()].sort(), [0, 1]);
    for (const [index, choice] of choices) {
      assert.equal(choice.finishReason, 'length', `choice ${index}`);
      assert.equal(choice.logprobs.length, maxTokens, `choice ${index} counts its tokens`);
    }
    assert.equal(chunks.at(-1).usage.completion_tokens, 2 * maxTokens);
    // The same seed gives the same samples, streamed or not.
    assert.equal(choices.get(0).text, whole.choices[0].message.content);
    assert.equal(choices.get(1).text, whole.choices[1].message.content);
  });

  test('the same seed gives the same sample', async () => {
    const request = { model: env.model, messages: MESSAGES, temperature: 1, seed: 1234, max_tokens: 10 };
    const first = await openai.chat.completions.create(request);
    const second = await openai.chat.completions.create(request);
    assert.equal(first.choices[0].message.content, second.choices[0].message.content);
  });

  test('max_completion_tokens bounds the answer', async () => {
    const completion = await openai.chat.completions.create({
      model: env.model, messages: MESSAGES, max_completion_tokens: 3, ignore_eos: true,
    });
    assert.equal(completion.usage.completion_tokens, 3);
    assert.equal(completion.choices[0].finish_reason, 'length');
  });

  test('reasoning_content is split out by a gateway with --reasoning-parser', { skip: !env.reasoningGatewayUrl }, async () => {
    const reasoningClient = client({ baseUrl: env.reasoningGatewayUrl });
    const request = { model: env.model, messages: MESSAGES, temperature: 0, max_tokens: CHAT_TOKENS };
    const completion = await reasoningClient.chat.completions.create(request);
    const { message } = completion.choices[0];
    assert.equal(message.reasoning_content ?? null, offlineReasoning.reasoning_content);
    assert.equal(message.content || null, offlineReasoning.content || null);

    const stream = await reasoningClient.chat.completions.create({ ...request, stream: true });
    const { choices } = await drain(stream, (choice) => choice.delta?.content);
    assert.equal(choices.get(0).reasoning, offlineReasoning.reasoning_content ?? '');
    assert.equal(choices.get(0).text, offlineReasoning.content ?? '');
  });
});

describe('completions', () => {
  test('greedy text and usage equal the offline engine', async () => {
    const completion = await openai.completions.create({
      model: env.model, prompt: PROMPT, temperature: 0, max_tokens: COMPLETION_TOKENS, ignore_eos: true,
    });
    assert.match(completion.id, /^cmpl-/);
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.model, env.model);
    assertCreatedNow(completion.created);
    assert.equal(completion.choices[0].text, offline.completion.text);
    assert.equal(completion.choices[0].finish_reason, 'length');
    assert.equal(completion.usage.prompt_tokens, offline.completion.prompt_token_ids.length);
    assert.equal(completion.usage.completion_tokens, COMPLETION_TOKENS);
    assert.equal(completion.usage.total_tokens, offline.completion.prompt_token_ids.length + COMPLETION_TOKENS);
  });

  test('streamed text equals the greedy text; include_usage counts it', async () => {
    const stream = await openai.completions.create({
      model: env.model, prompt: PROMPT, temperature: 0, max_tokens: COMPLETION_TOKENS, ignore_eos: true,
      stream: true, stream_options: { include_usage: true },
    });
    const { chunks, choices } = await drain(stream, (choice) => choice.text);
    assert.equal(choices.get(0).text, offline.completion.text);
    assert.equal(choices.get(0).finishReason, 'length');
    assert.ok(chunks.every((chunk) => chunk.object === 'text_completion' && chunk.model === env.model));
    assert.equal(chunks.at(-1).usage.completion_tokens, COMPLETION_TOKENS);
  });

  test('logprobs, echo and text offsets', async () => {
    const completion = await openai.completions.create({
      model: env.model, prompt: PROMPT, temperature: 0, max_tokens: COMPLETION_TOKENS, ignore_eos: true, logprobs: 2,
      echo: true,
    });
    const [choice] = completion.choices;
    assert.equal(choice.text, PROMPT + offline.completion.text);
    const { tokens, token_logprobs: tokenLogprobs, top_logprobs: topLogprobs, text_offset: textOffset } = choice.logprobs;
    assert.equal(tokens.length, COMPLETION_TOKENS);
    assert.equal(tokenLogprobs.length, COMPLETION_TOKENS);
    assert.equal(topLogprobs.length, COMPLETION_TOKENS);
    assert.equal(textOffset[0], PROMPT.length, 'offsets count the echoed prompt');
    for (let i = 1; i < textOffset.length; i++) assert.ok(textOffset[i] >= textOffset[i - 1]);
    for (const top of topLogprobs) assert.ok(Object.keys(top).length >= 1 && Object.keys(top).length <= 2);
  });

  test('a stop string ends the text before it', async (t) => {
    // Random weights write odd text: stop at the first two characters past the start that are neither replacement
    // characters (bytes that are not UTF-8 on their own) nor blank.
    const greedy = offline.completion.text;
    const characters = Array.from(greedy);
    let stop = '';
    for (let i = 1; i + 2 <= characters.length && !stop; i++) {
      const pair = characters.slice(i, i + 2);
      if (pair.every((character) => character !== '\ufffd' && character.trim() !== '')) stop = pair.join('');
    }
    if (!stop) {
      t.skip(`the greedy text ${JSON.stringify(greedy)} has no two plain characters to stop at`);
      return;
    }
    const completion = await openai.completions.create({
      model: env.model, prompt: PROMPT, temperature: 0, max_tokens: COMPLETION_TOKENS, ignore_eos: true, stop: [stop],
    });
    assert.equal(completion.choices[0].text, greedy.slice(0, greedy.indexOf(stop)));
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.equal(completion.choices[0].stop_reason, stop);
  });
});

describe('tokenize and detokenize', () => {
  test('/tokenize gives the prompt ids the engine used; /detokenize inverts it', async () => {
    const text = await postJson('/tokenize', { model: env.model, prompt: PROMPT });
    assert.equal(text.status, 200, JSON.stringify(text.body));
    assert.deepEqual(text.body.tokens, offline.completion.prompt_token_ids);
    assert.equal(text.body.count, offline.completion.prompt_token_ids.length);
    assert.ok(text.body.max_model_len > 0);

    const chat = await postJson('/tokenize', { model: env.model, messages: MESSAGES, add_generation_prompt: true });
    assert.equal(chat.status, 200, JSON.stringify(chat.body));
    assert.deepEqual(chat.body.tokens, offline.chat.prompt_token_ids);

    const plain = await postJson('/tokenize', { model: env.model, prompt: PROMPT, add_special_tokens: false });
    const back = await postJson('/detokenize', { model: env.model, tokens: plain.body.tokens });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal(back.body.prompt, PROMPT);
  });
});

describe('errors reach the SDK as its typed errors', () => {
  test('a wrong key is AuthenticationError (401)', async () => {
    await assert.rejects(client({ apiKey: 'wrong' }).models.list(), (error) => {
      assert.ok(error instanceof OpenAI.AuthenticationError, String(error));
      assert.equal(error.status, 401);
      return true;
    });
  });

  test('an unknown model is NotFoundError (404) naming the param', async () => {
    await assert.rejects(
      openai.chat.completions.create({ model: 'no-such-model', messages: MESSAGES }),
      (error) => {
        assert.ok(error instanceof OpenAI.NotFoundError, String(error));
        assert.equal(error.status, 404);
        assert.equal(error.param, 'model');
        return true;
      },
    );
  });

  test('an invalid parameter is BadRequestError (400) naming it', async () => {
    await assert.rejects(
      openai.completions.create({ model: env.model, prompt: PROMPT, temperature: -1 }),
      (error) => {
        assert.ok(error instanceof OpenAI.BadRequestError, String(error));
        assert.equal(error.status, 400);
        assert.equal(error.param, 'temperature');
        return true;
      },
    );
  });
});
