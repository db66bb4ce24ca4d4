import t from 'tap';
import type { Test } from 'tap';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Bundle, Observation, OperationOutcome } from '@medplum/fhirtypes';
import { buildTestServer } from '../helpers/server.js';

/**
 * Stored XSS through Narrative.div: every write path (POST, PUT, PATCH, a
 * transaction entry) and $validate judge the div as a browser reads it, with
 * character references decoded, URLs normalised as the URL parser does, CSS
 * comments and escapes removed. What a client sees: 422 with an issue at
 * Observation.text.div (txt-1, or "not well-formed XHTML"), nothing stored;
 * the narratives FHIR allows (style, class, id, lang, relative links, images
 * of contained resources, char references to safe text) are still stored and
 * served back as they were sent. Last, a real browser (Debian's chromium,
 * driven by playwright-core) renders every div the server accepted with
 * innerHTML and clicks every link: no script runs.
 */
const XHTML = 'http://www.w3.org/1999/xhtml';
const FHIR_JSON = 'application/fhir+json';
const ID_SYSTEM = 'urn:carnet:narrative-xss';
const CHROMIUM = '/usr/bin/chromium';
/** What an attack runs, and what the browser check watches for. */
const SCRIPT = 'void(window.__xss=1)';
const div = (body: string, root = `xmlns="${XHTML}"`) => `<div ${root}>${body}</div>`;

/** [name, div, why: 'txt-1' (a rule of the narrative) or 'xml' (not well-formed)] */
const REFUSED: Array<[string, string, 'txt-1' | 'xml']> = [
  ['javascript: as written', div(`<a href="javascript:${SCRIPT}">see report</a>`), 'txt-1'],
  ['j as a decimal reference', div(`<a href="&#106;avascript:${SCRIPT}">see report</a>`), 'txt-1'],
  ['j as a decimal reference with leading zeros', div(`<a href="&#0000106;avascript:${SCRIPT}">see report</a>`), 'txt-1'],
  ['a tab as a hex reference inside the scheme', div(`<a href="jav&#x09;ascript:${SCRIPT}">see report</a>`), 'txt-1'],
  ['a CR and a newline as references inside the scheme', div(`<a href="java&#x0D;scr&#10;ipt:${SCRIPT}">see report</a>`), 'txt-1'],
  ['every letter as a hex reference', div(`<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;${SCRIPT}">see report</a>`), 'txt-1'],
  ['a literal tab inside the scheme', div(`<a href="java\tscript:${SCRIPT}">see report</a>`), 'txt-1'],
  ['mixed case', div(`<a href="JaVaScRiPt:${SCRIPT}">see report</a>`), 'txt-1'],
  ['leading spaces and a newline as references', div(`<a href=" &#x20;&#x0A;javascript:${SCRIPT}">see report</a>`), 'txt-1'],
  ['vbscript:', div('<a href="vbscript:msgbox(1)">see report</a>'), 'txt-1'],
  ['data:text/html in a link', div('<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">see report</a>'), 'txt-1'],
  ['an unknown protocol handler', div('<a href="ms-msdt:/id PCWDiagnostic">see report</a>'), 'txt-1'],
  ['javascript: in img src', div(`<img src="javascript:${SCRIPT}" alt="x"/>`), 'txt-1'],
  ['an SVG data: image', div('<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+" alt="x"/>'), 'txt-1'],
  ['javascript: in blockquote cite', div(`<blockquote cite="&#106;avascript:${SCRIPT}">quoted</blockquote>`), 'txt-1'],
  ['an event handler', div(`<img src="#missing" alt="x" onerror="${SCRIPT}"/>`), 'txt-1'],
  ['an event handler in capitals', div(`<p ONCLICK="${SCRIPT}">text</p>`), 'txt-1'],
  ['an attribute the narrative does not allow', div('<p bgcolor="red">text</p>'), 'txt-1'],
  ['an element in the SVG namespace', div('<p xmlns="http://www.w3.org/2000/svg">text</p>'), 'txt-1'],
  ['an xlink:href', div(`<a xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="javascript:${SCRIPT}">see report</a>`), 'txt-1'],
  ['xml:base', div('<a href="x">see report</a>', `xmlns="${XHTML}" xml:base="javascript:alert(1)//"`), 'txt-1'],
  ['a prefixed element bound to nothing', div('<svg:svg>text</svg:svg>'), 'txt-1'],
  ['style: url(javascript:)', div(`<p style="background:url(javascript:${SCRIPT})">text</p>`), 'txt-1'],
  ['style: url() quoted with references', div(`<p style="background:url(&quot;&#106;avascript:${SCRIPT}&quot;)">text</p>`), 'txt-1'],
  ['style: expression()', div('<p style="width:expression(alert(1))">text</p>'), 'txt-1'],
  ['style: expression() split by a comment', div('<p style="width:exp/**/ression(alert(1))">text</p>'), 'txt-1'],
  ['style: url written with a CSS escape', div(`<p style="background:u\\72l(javascript:${SCRIPT})">text</p>`), 'txt-1'],
  ['style: javascript: written with CSS escapes', div('<p style="background:url(\\6a avascript:alert(1))">text</p>'), 'txt-1'],
  ['style: behavior', div('<p style="behavior:url(x.htc)">text</p>'), 'txt-1'],
  ['style: -moz-binding', div('<p style="-moz-binding:url(https://example.org/x.xml#x)">text</p>'), 'txt-1'],
  ['style: @import', div('<p style="@import \'https://example.org/x.css\'">text</p>'), 'txt-1'],
  ['style: a comment opened inside a string', div(`<p style="font-family:'/*'; background:url(javascript:${SCRIPT}); content:'*/'">text</p>`), 'txt-1'],
  ['a comment HTML closes at once (<!-->)', div(`<!--><img src="#missing" alt="x" onerror="${SCRIPT}"/>--><p>text</p>`), 'txt-1'],
  ['a reference without its ;', div(`<a href="&#106avascript:${SCRIPT}">see report</a>`), 'xml'],
  ['an undefined entity', div('<p>a &bogus; b</p>'), 'xml'],
  ['an HTML entity (&nbsp;)', div('<p>a&nbsp;b</p>'), 'xml'],
  ['an HTML entity in an attribute (&colon;)', div(`<a href="javascript&colon;${SCRIPT}">see report</a>`), 'xml'],
  ['a reference to a control character', div(`<a href="&#1;javascript:${SCRIPT}">see report</a>`), 'xml'],
  ['a reference to NUL', div(`<a href="&#0;javascript:${SCRIPT}">see report</a>`), 'xml'],
  ['a < inside an attribute value', div('<p title="<img src=x>">text</p>'), 'xml'],
  ['-- inside a comment', div('<!-- a -- b --><p>text</p>'), 'xml'],
];

/** Narratives FHIR allows: stored and served back unchanged. */
const ACCEPTED: Array<[string, string]> = [
  ['relative, fragment, query and scheme-relative links', div('<p><a href="Patient/123">patient</a> <a href="#section">here</a> <a href="?page=2">next</a> <a href="//example.org/x">there</a></p>')],
  ['http, https, mailto, tel and urn:uuid', div('<p><a href="http://example.org">a</a> <a href="https://example.org/?a=1&amp;b=2">b</a> <a href="mailto:dr@example.org">c</a> <a href="tel:+33100000000">d</a> <a href="urn:uuid:5e4a0c43-6f0e-4b7e-9d57-000000000001">e</a></p>')],
  ['an https link written with character references', div('<p><a href="&#104;ttps://example.org/&#x61;">safe</a></p>')],
  ['an image of a contained resource, and a PNG data: image', div('<p><img src="#photo" alt="photo"/><img src="data: image/png;base64,iVBORw0KGgo=" alt="icon"/></p>')],
  ['style, class, id, lang, xml:lang, title', div('<p class="c" id="p1" lang="fr" xml:lang="fr" title="T &amp; C" style="color: red; font-weight: bold; background-image: url(data: image/png;base64,iVBORw0KGgo=)">Bonjour</p>')],
  ['character references to text and the five XML entities', div('<p>&#233;t&#xE9; &#160;&lt;3 &amp; &gt; &quot;q&quot; &apos;a&apos;</p>')],
  ['a comment and a table', div('<!-- generated --><table border="1" cellpadding="2"><tr><td colspan="2" valign="top">1 &gt; 0</td></tr></table>')],
  ['the XHTML namespace bound to a prefix', div('<xhtml:p xmlns:xhtml="http://www.w3.org/1999/xhtml">prefixed</xhtml:p>')],
];

const observation = (body: string, id?: string, key = 'x') => ({
  resourceType: 'Observation', ...(id ? { id } : {}), status: 'final', code: { text: 'narrative' },
  identifier: [{ system: ID_SYSTEM, value: key }],
  text: { status: 'generated', div: body },
});

function assertRefused(t: Test, res: { statusCode: number; json(): unknown; body: string }, why: 'txt-1' | 'xml', name: string, at = 'Observation.text.div') {
  t.equal(res.statusCode, 422, `${name}: 422 (${res.body.slice(0, 200)})`);
  const outcome = res.json() as OperationOutcome;
  t.equal(outcome.resourceType, 'OperationOutcome', name);
  const issue = outcome.issue.find((i) => i.severity === 'error' && (i.expression ?? []).some((e) => e.endsWith(at)));
  t.ok(issue, `${name}: an error at ${at}`);
  t.equal(issue?.code, why === 'txt-1' ? 'invariant' : 'value', `${name}: issue code`);
  t.match(issue?.diagnostics, why === 'txt-1' ? /^txt-1: / : /is not well-formed XHTML/, `${name}: says why`);
  t.equal(issue?.details?.coding?.[0]?.code, 'FHIR_ERR_VALIDATION_RULE', `${name}: error code`);
}

t.test('narratives that could run script are refused on every write path; those FHIR allows are kept', async (t) => {
  const { app, auth } = await buildTestServer(t);
  const authorization = await auth();
  const headers = { authorization, 'content-type': FHIR_JSON };
  const stored = async (key: string) => {
    const res = await app.inject({ url: `/fhir/Observation?identifier=${encodeURIComponent(`${ID_SYSTEM}|${key}`)}&_summary=count`, headers: { authorization } });
    return (res.json() as Bundle).total;
  };
  /** The divs the server accepted, as it serves them back: rendered in a browser at the end. */
  const accepted: Array<[string, string]> = [];

  t.test('POST: 422 at Observation.text.div, nothing stored', async (t) => {
    for (const [i, [name, body, why]] of REFUSED.entries()) {
      const res = await app.inject({ method: 'POST', url: '/fhir/Observation', headers, payload: observation(body, undefined, `post-${i}`) });
      if (res.statusCode === 201) accepted.push([name, (res.json() as Observation).text!.div]);
      assertRefused(t, res, why, name);
      t.equal(await stored(`post-${i}`), 0, `${name}: nothing stored`);
    }
  });

  t.test('PUT (create and update) and a transaction entry: the same 422, nothing stored', async (t) => {
    const base = await app.inject({ method: 'PUT', url: '/fhir/Observation/put-base', headers, payload: observation(div('<p>safe</p>'), 'put-base', 'put-base') });
    t.equal(base.statusCode, 201);
    for (const [i, [name, body, why]] of REFUSED.entries()) {
      const created = await app.inject({ method: 'PUT', url: `/fhir/Observation/put-${i}`, headers, payload: observation(body, `put-${i}`, `put-${i}`) });
      assertRefused(t, created, why, `PUT create, ${name}`);
      t.equal((await app.inject({ url: `/fhir/Observation/put-${i}`, headers: { authorization } })).statusCode, 404, `${name}: not created`);
      const updated = await app.inject({ method: 'PUT', url: '/fhir/Observation/put-base', headers, payload: observation(body, 'put-base', 'put-base') });
      assertRefused(t, updated, why, `PUT update, ${name}`);
    }
    const after = (await app.inject({ url: '/fhir/Observation/put-base', headers: { authorization } })).json() as Observation;
    t.equal(after.meta?.versionId, '1', 'no update was stored');
    for (const [i, [name, body]] of REFUSED.entries()) {
      const res = await app.inject({
        method: 'POST', url: '/fhir', headers,
        payload: {
          resourceType: 'Bundle', type: 'transaction',
          entry: [
            { fullUrl: 'urn:uuid:5e4a0c43-6f0e-4b7e-9d57-0000000000a1', resource: observation(div('<p>a safe sibling</p>'), undefined, `tx-${i}`), request: { method: 'POST', url: 'Observation' } },
            { resource: observation(body, undefined, `tx-${i}`), request: { method: 'POST', url: 'Observation' } },
          ],
        },
      });
      t.equal(res.statusCode, 422, `transaction, ${name}: 422 (${res.body.slice(0, 200)})`);
      t.match(JSON.stringify(res.json()), /Bundle\.entry\[1\]/, `transaction, ${name}: the entry is named`);
      t.equal(await stored(`tx-${i}`), 0, `transaction, ${name}: nothing stored, the safe sibling neither`);
    }
  });

  t.test('PATCH: 422, the stored version unchanged', async (t) => {
    const safe = div('<p>safe</p>');
    const created = await app.inject({ method: 'POST', url: '/fhir/Observation', headers, payload: observation(safe, undefined, 'patch') });
    t.equal(created.statusCode, 201);
    const id = (created.json() as Observation).id!;
    for (const [name, body, why] of REFUSED) {
      const res = await app.inject({
        method: 'PATCH', url: `/fhir/Observation/${id}`, headers: { authorization, 'content-type': 'application/json-patch+json' },
        payload: JSON.stringify([{ op: 'replace', path: '/text/div', value: body }]),
      });
      assertRefused(t, res, why, `PATCH, ${name}`);
    }
    const after = (await app.inject({ url: `/fhir/Observation/${id}`, headers: { authorization } })).json() as Observation;
    t.equal(after.meta?.versionId, '1', 'no version added');
    t.equal(after.text?.div, safe, 'the div as it was');
  });

  t.test('$validate (type and instance level): the same error at Observation.text.div', async (t) => {
    for (const [name, body, why] of REFUSED) {
      for (const url of ['/fhir/Observation/$validate', '/fhir/Observation/v1/$validate']) {
        const resource = observation(body, url.includes('/v1/') ? 'v1' : undefined);
        const res = await app.inject({ method: 'POST', url, headers, payload: url.includes('/v1/') ? { resourceType: 'Parameters', parameter: [{ name: 'resource', resource }, { name: 'mode', valueCode: 'update' }] } : resource });
        t.equal(res.statusCode, 200, `${url}, ${name}`);
        const issue = (res.json() as OperationOutcome).issue.find((i) => i.severity === 'error' && i.expression?.[0] === 'Observation.text.div');
        t.equal(issue?.code, why === 'txt-1' ? 'invariant' : 'value', `${url}, ${name}: an error at Observation.text.div`);
      }
    }
  });

  t.test('what FHIR allows is stored and served back as sent', async (t) => {
    for (const [i, [name, body]] of ACCEPTED.entries()) {
      const res = await app.inject({ method: 'POST', url: '/fhir/Observation', headers, payload: observation(body, undefined, `ok-${i}`) });
      t.equal(res.statusCode, 201, `${name} (${res.body.slice(0, 300)})`);
      if (res.statusCode !== 201) continue;
      const read = (await app.inject({ url: `/fhir/Observation/${(res.json() as Observation).id}`, headers: { authorization } })).json() as Observation;
      t.equal(read.text?.div, body, `${name}: served back unchanged`);
      accepted.push([name, read.text!.div]);
      const validated = await app.inject({ method: 'POST', url: '/fhir/Observation/$validate', headers, payload: observation(body) });
      t.notOk((validated.json() as OperationOutcome).issue.some((issue) => issue.severity === 'error'), `${name}: $validate finds no error`);
    }
  });

  t.test('in a real browser, no accepted narrative runs script', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)` }, async (t) => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    });
    t.teardown(() => browser.close());
    const page = await browser.newPage();
    // No request leaves the page: an http link or image simply fails.
    await page.route('**/*', (route) => route.abort());
    await page.setContent('<!doctype html><html><head><title>narrative</title><base href="https://app.example/fhir/"/></head><body><div id="n"></div></body></html>');
    /** Renders a div as an app would (innerHTML), clicks every link (javascript: ones are let through), tells whether script ran. */
    const render = async (body: string) => {
      await page.evaluate(`(() => {
        window.__xss = 0;
        if (!window.__guard) {
          window.__guard = true;
          // Links to anywhere but javascript: would leave the page: stopped; a javascript: link runs.
          document.addEventListener('click', (e) => { const a = e.target.closest && e.target.closest('a'); if (a && a.protocol !== 'javascript:') e.preventDefault(); }, true);
        }
        document.getElementById('n').innerHTML = ${JSON.stringify(body)};
        for (const a of document.querySelectorAll('#n a')) a.click();
      })()`);
      await page.waitForTimeout(150);
      return page.evaluate(`({ ran: window.__xss, protocols: [...document.querySelectorAll('#n a[href]')].map((a) => a.protocol) })`) as Promise<{ ran: number; protocols: string[] }>;
    };
    // The check can see script run: one of the refused divs, rendered straight into the page, runs it.
    const control = await render(REFUSED[1]![1]);
    t.equal(control.ran, 1, 'control: the &#106;avascript: link the server refuses would run script in a browser');
    t.ok(accepted.length >= ACCEPTED.length, 'every safe narrative was accepted');
    for (const [name, body] of accepted) {
      const { ran, protocols } = await render(body);
      t.equal(ran, 0, `${name}: no script ran`);
      t.notOk(protocols.some((p) => p === 'javascript:' || p === 'vbscript:' || p === 'data:'), `${name}: no script link (${protocols.join(' ')})`);
    }
  });
});
