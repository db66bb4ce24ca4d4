import { connect } from 'node:net';
import t from 'tap';
import { buildTestServer } from '../helpers/server.js';

/**
 * Requests Node's HTTP parser refuses never reach a route: they are answered
 * by the server's clientErrorHandler. Sent as raw bytes over a real socket,
 * since no HTTP client would write them.
 */
function sendRaw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

function parse(answer: string): { statusLine: string; headers: string; body: unknown } {
  const [head = '', body = ''] = answer.split('\r\n\r\n', 2);
  const [statusLine = '', ...headers] = head.split('\r\n');
  return { statusLine, headers: headers.join('\n').toLowerCase(), body: body ? JSON.parse(body) : undefined };
}

t.test('a request that is not valid HTTP gets a 400 OperationOutcome, headers too large a 431, and the connection is closed', async (t) => {
  const { app } = await buildTestServer(t);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const cases: Array<[string, string, string]> = [
    ['a space in a header name', 'GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', '400'],
    ['no request line', 'GARBAGE\r\n\r\n', '400'],
    ['a Content-Length that is no number', 'POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', '400'],
    ['headers of 20 KB', `GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, '431'],
  ];
  for (const [name, bytes, status] of cases) {
    const { statusLine, headers, body } = parse(await sendRaw(port, bytes));
    t.match(statusLine, new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: ${status}`);
    t.match(headers, /content-type: application\/fhir\+json/, `${name}: FHIR JSON`);
    t.match(headers, /connection: close/, `${name}: the connection is closed`);
    t.match(body, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', details: { coding: [{ code: 'FHIR_ERR_HTTP_BAD_REQUEST' }] } }] }, `${name}: an OperationOutcome`);
  }
  const ok = parse(await sendRaw(port, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
  t.match(ok.statusLine, /^HTTP\/1\.1 200 /, 'a valid request on the same server is answered as usual');
});
