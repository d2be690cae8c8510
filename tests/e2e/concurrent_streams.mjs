// Opens COUNT streaming requests through the gateway at once (half chat, half completions) with the OpenAI SDK and
// checks that every one finishes with exact usage: the tokens counted from the deltas' logprobs, the usage chunk's
// completion_tokens and max_tokens all agree. Run by tests/integration/concurrency.sh:
//   node concurrent_streams.mjs COUNT MAX_TOKENS
import { client, env } from './serving_env.mjs';

const count = Number(process.argv[2] ?? 200);
const maxTokens = Number(process.argv[3] ?? 4);
const openai = client();

async function oneStream(i) {
  const chat = i % 2 === 0;
  const common = {
    model: env.model, max_tokens: maxTokens, ignore_eos: true, temperature: 1, seed: i, stream: true,
    stream_options: { include_usage: true },
  };
  const stream = chat
    ? await openai.chat.completions.create({ ...common, messages: [{ role: 'user', content: `Request ${i}` }], logprobs: true })
    : await openai.completions.create({ ...common, prompt: `Request ${i}`, logprobs: 0 });
  let tokens = 0;
  let usage = null;
  let finishReason = null;
  const ids = new Set();
  for await (const chunk of stream) {
    ids.add(chunk.id);
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      tokens += chat ? (choice.logprobs?.content?.length ?? 0) : (choice.logprobs?.tokens?.length ?? 0);
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
  }
  const problems = [];
  if (tokens !== maxTokens) problems.push(`counted ${tokens} tokens in the deltas, expected ${maxTokens}`);
  if (!usage) problems.push('no usage chunk');
  else if (usage.completion_tokens !== maxTokens) problems.push(`usage.completion_tokens ${usage.completion_tokens}`);
  else if (usage.total_tokens !== usage.prompt_tokens + usage.completion_tokens) problems.push('total_tokens is off');
  if (finishReason !== 'length') problems.push(`finish_reason ${finishReason}`);
  if (ids.size !== 1) problems.push(`${ids.size} different ids in one stream`);
  return { id: [...ids][0], problems: problems.map((problem) => `${chat ? 'chat' : 'completion'} ${i}: ${problem}`) };
}

const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => oneStream(i)));
const problems = [];
const ids = new Set();
for (const [i, result] of results.entries()) {
  if (result.status === 'rejected') {
    problems.push(`request ${i}: ${result.reason}`);
  } else {
    problems.push(...result.value.problems);
    ids.add(result.value.id);
  }
}
if (ids.size !== results.filter((result) => result.status === 'fulfilled').length) problems.push('response ids repeat');
if (problems.length > 0) {
  console.error(`${problems.length} problem(s) in ${count} concurrent streams:\n${problems.slice(0, 20).join('\n')}`);
  process.exit(1);
}
console.log(`${count} concurrent streams finished, each with exactly ${maxTokens} tokens counted and in usage`);
