// The official OpenAI client against `deem serve`: plain chat, chat with a data: image, streamed chat
// (joined chunks vs the non-streamed answer under the same seed), and image generation.
// Usage: node chat.mjs BASE_URL MODEL PNG_FILE ; prints one JSON object.
import OpenAI from 'openai';
import { readFileSync } from 'node:fs';

const [baseURL, model, pngFile] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
const question = [{ role: 'user', content: 'What is in the picture?' }];

const plain = await client.chat.completions.create({ model, messages: question, max_tokens: 8, temperature: 0 });

const dataUrl = 'data:image/png;base64,' + readFileSync(pngFile).toString('base64');
const withImage = await client.chat.completions.create({
  model, max_tokens: 6, temperature: 0,
  messages: [{ role: 'user', content: [{ type: 'text', text: 'What color is it?' }, { type: 'image_url', image_url: { url: dataUrl } }] }],
});

const sampled = { model, messages: question, max_tokens: 16, temperature: 0.9, top_p: 0.95, seed: 1234 };
const whole = await client.chat.completions.create(sampled);
const stream = await client.chat.completions.create({ ...sampled, stream: true, stream_options: { include_usage: true } });
let joined = '';
let chunks = 0;
let finish = null;
let streamUsage = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.object !== 'chat.completion.chunk') throw new Error('unexpected chunk object ' + chunk.object);
  for (const c of chunk.choices) {
    joined += c.delta?.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
  if (chunk.usage) streamUsage = chunk.usage;
}

const two = await client.chat.completions.create({ model, messages: question, max_tokens: 4, n: 2, seed: 7 });

const images = await client.images.generate({ model, prompt: 'a red square', n: 1, size: '64x64', response_format: 'b64_json' });
const models = await client.models.list();

console.log(JSON.stringify({
  plain: { content: plain.choices[0].message.content, finish: plain.choices[0].finish_reason, usage: plain.usage, object: plain.object },
  image: { content: withImage.choices[0].message.content, usage: withImage.usage },
  stream: { whole: whole.choices[0].message.content, joined, chunks, finish, wholeFinish: whole.choices[0].finish_reason, usage: streamUsage, wholeUsage: whole.usage },
  n: two.choices.map(c => c.index),
  images: images.data.map(d => d.b64_json),
  models: models.data.map(m => m.id),
}));
