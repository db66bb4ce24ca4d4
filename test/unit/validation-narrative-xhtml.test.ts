import t from 'tap';
import { validateResourceDetailed } from '../../src/fhir/validation/validate.js';

// R4's xhtml type is well-formed XML; txt-1 (basic HTML only) and txt-2 (some content) come on top.
const XHTML = 'http://www.w3.org/1999/xhtml';
const patient = (div: string) => ({ resourceType: 'Patient', text: { status: 'generated', div } });

t.test('a div that is not well-formed XHTML: 422 naming Narrative.div, and nothing else', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['an unclosed element', `<div xmlns="${XHTML}"><p>unclosed</div>`, /closing tag 'p'/],
    ['bare < and &', `<div xmlns="${XHTML}">a < b & c</div>`, /line 1/],
    ['a bare & alone', `<div xmlns="${XHTML}">Smith & Sons</div>`, /'&'/],
    ['text after the div', `<div xmlns="${XHTML}">a</div>b`, /.+/],
  ];
  for (const [name, div, why] of cases) {
    const { malformed, issues } = validateResourceDetailed(patient(div));
    t.equal(malformed, false, name);
    t.match(issues, [{ severity: 'error', code: 'value', expression: ['Patient.text.div'], diagnostics: /is not well-formed XHTML/ }], name);
    t.match(issues[0]?.diagnostics, why, name);
    t.equal(issues.length, 1, `${name}: txt-1/txt-2 are not judged on a div that is not XML`);
  }
});

t.test('well-formed divs pass, entities and self-closed elements included', async (t) => {
  for (const div of [
    `<div xmlns="${XHTML}"><p>Ann &amp; Bob&#160;&#xA0;&lt;3</p><br/><img src="#a" alt="x"/></div>`,
    `<div xmlns="${XHTML}">\n  <table><tr><td>1 &gt; 0</td></tr></table>\n</div>`,
  ]) t.same(validateResourceDetailed(patient(div)).issues, [], div);
});

t.test('txt-1 and txt-2 are reported each for itself', async (t) => {
  const handler = validateResourceDetailed(patient(`<div xmlns="${XHTML}"><p onclick="x()">hello</p></div>`)).issues;
  t.match(handler, [{ code: 'invariant', expression: ['Patient.text.div'], diagnostics: /^txt-1:/ }]);
  t.notOk(handler.some((i) => /txt-2/.test(i.diagnostics ?? '')), 'a div with text does not break txt-2');
  const empty = validateResourceDetailed(patient(`<div xmlns="${XHTML}"><p> </p></div>`)).issues;
  t.match(empty, [{ code: 'invariant', expression: ['Patient.text.div'], diagnostics: /^txt-2:/ }]);
  t.notOk(empty.some((i) => /txt-1/.test(i.diagnostics ?? '')), 'allowed elements do not break txt-1');
});
