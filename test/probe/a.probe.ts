import { startStack, Stack, TOKENS } from '@wfs/testing';
let stack: Stack;
beforeAll(async () => { stack = await startStack({ workers: 0, env: { WFS_MAX_UPLOAD_BYTES: '1024' } }); });
afterAll(async () => { await stack?.stop(); });
test('probe', async () => {
  const c = await stack.call('POST', '/api/v1/workflows/radps_skeleton/runs', { body: { parameters: { nField: 1, nSpw: 1, nScan: 1 } } });
  const id = c.body.id;
  const results: Record<string, number> = {};
  const note = (k: string) => (results[k] = (results[k] ?? 0) + 1);
  for (let i = 0; i < 5; i++) {
    const endless = new ReadableStream({ async pull(ctrl) { await new Promise((r) => setTimeout(r, 1)); ctrl.enqueue(new Uint8Array(16384).fill(2)); } });
    try {
      const r = await fetch(`${stack.url}/api/v1/runs/${id}/files/e.bin`, { method: 'PUT', headers: { authorization: `Bearer ${TOKENS.da}`, 'content-type': 'application/octet-stream' }, body: endless, duplex: 'half', signal: AbortSignal.timeout(10000) } as any);
      const t0 = Date.now(); await r.text(); note(String(Date.now() - t0 > 1000 ? 'slow ' : '') + 'endless ' + r.status);
    } catch (e) { note('endless err ' + String((e as any).cause?.code ?? e)); }
    try {
      const r = await fetch(`${stack.url}/api/v1/runs/${id}/files/b.bin`, { method: 'PUT', headers: { authorization: `Bearer ${TOKENS.da}`, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(8 * 1024 * 1024), signal: AbortSignal.timeout(5000) } as any);
      const t0 = Date.now(); await r.text(); note(String(Date.now() - t0 > 1000 ? 'slow ' : '') + 'cl8M ' + r.status);
    } catch (e) { note('cl8M err ' + String((e as any).cause?.code ?? e)); }
    let n = 0;
    const big = new ReadableStream({ pull(ctrl) { if (n++ > 500) return ctrl.close(); ctrl.enqueue(new Uint8Array(16384).fill(1)); } });
    try {
      const r = await fetch(`${stack.url}/api/v1/runs/${id}/files/c.bin`, { method: 'PUT', headers: { authorization: `Bearer ${TOKENS.da}`, 'content-type': 'application/octet-stream' }, body: big, duplex: 'half', signal: AbortSignal.timeout(5000) } as any);
      const t0 = Date.now(); await r.text(); note(String(Date.now() - t0 > 1000 ? 'slow ' : '') + 'chunked8M ' + r.status);
    } catch (e) { note('chunked8M err ' + String((e as any).cause?.code ?? e)); }
  }
  for (let i = 0; i < 5; i++) {
    const endless = new ReadableStream({ async pull(ctrl) { await new Promise((r) => setTimeout(r, 1)); ctrl.enqueue(new Uint8Array(16384).fill(0x20)); } });
    try {
      const r = await fetch(`${stack.url}/api/v1/workflows/radps_skeleton/runs`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.da}`, 'content-type': 'application/json' }, body: endless, duplex: 'half', signal: AbortSignal.timeout(10000) } as any);
      const t0 = Date.now(); await r.text(); note(String(Date.now() - t0 > 1000 ? 'slow ' : '') + 'json endless ' + r.status);
    } catch (e) { note('json endless err ' + String((e as any).cause?.code ?? e)); }
    try {
      const r = await fetch(`${stack.url}/api/v1/workflows/radps_skeleton/runs`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.da}`, 'content-type': 'application/json' }, body: Buffer.alloc(8 * 1024 * 1024, 0x20), signal: AbortSignal.timeout(5000) } as any);
      const t0 = Date.now(); await r.text(); note(String(Date.now() - t0 > 1000 ? 'slow ' : '') + 'json cl8M ' + r.status);
    } catch (e) { note('json cl8M err ' + String((e as any).cause?.code ?? e)); }
    try {
      const r = await fetch(`${stack.url}/api/v1/workflows/radps_skeleton/runs`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.da}`, 'content-type': 'text/plain' }, body: Buffer.alloc(8 * 1024 * 1024, 0x20), signal: AbortSignal.timeout(5000) } as any);
      const t0 = Date.now(); await r.text(); note(String(Date.now() - t0 > 1000 ? 'slow ' : '') + 'text cl8M ' + r.status);
    } catch (e) { note('text cl8M err ' + String((e as any).cause?.code ?? e)); }
  }
  const ok = await stack.call('PUT', `/api/v1/runs/${id}/files/ok.bin`, { raw: 'x', headers: { 'content-type': 'application/octet-stream' } });
  console.log(JSON.stringify(results), ok.status);
}, 120000);
