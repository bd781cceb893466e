// Each failure of `deem serve` as the official OpenAI client sees it: an APIError with the HTTP status
// and OpenAI's error body. Usage: node errors.mjs BASE_URL MODEL CASE ; prints
// {"status", "type", "code", "param", "message"} (or {"ok": true} when nothing was thrown).
import OpenAI from 'openai';

const [baseURL, model, name] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
const hello = [{ role: 'user', content: 'hello' }];
const image = url => ({ type: 'image_url', image_url: { url } });

const cases = {
  // The client only sends valid JSON; a raw request shows the same body for a broken one.
  'bad-json': async () => {
    const r = await fetch(baseURL + '/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": ' });
    throw OpenAI.APIError.generate(r.status, await r.json(), undefined, r.headers);
  },
  'wrong-type': () => client.chat.completions.create({ model, messages: hello, max_tokens: 'ten' }),
  'too-many-images': () => client.chat.completions.create({
    model, max_tokens: 2,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'all of them' }, ...Array(5).fill(image('data:image/png;base64,AAAA'))] }],
  }),
  'too-long': () => client.chat.completions.create({ model, max_tokens: 2, messages: [{ role: 'user', content: 'square '.repeat(3000) }] }),
  'bad-image': () => client.chat.completions.create({
    model, max_tokens: 2, messages: [{ role: 'user', content: [image('data:image/png;base64,aGVsbG8gd29ybGQ=')] }],
  }),
  'local-file': () => client.chat.completions.create({ model, max_tokens: 2, messages: [{ role: 'user', content: [image('/etc/hostname')] }] }),
  'unknown-model': () => client.chat.completions.create({ model: 'no-such-model', messages: hello }),
  'unknown-route': () => client.get('/no/such/route'),
  'bad-size': () => client.images.generate({ model, prompt: 'a dog', size: '1024x1024' }),
  'too-large': () => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x'.repeat(300_000) }] }),
  'chat': () => client.chat.completions.create({ model, messages: hello, max_tokens: 2 }),
  'images': () => client.images.generate({ model, prompt: 'a dog', size: '64x64' }),
};

try {
  await cases[name]();
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  if (!(e instanceof OpenAI.APIError)) throw e;
  console.log(JSON.stringify({ status: e.status, type: e.type, code: e.code, param: e.param, message: e.error?.message ?? null }));
}
