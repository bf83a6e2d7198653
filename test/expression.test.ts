// The `when` expression language (src/definitions/expression.ts): what parses, what is refused with a
// message saying where, and what each expression evaluates to, table by table. Pure: no services.
import { expect } from 'chai';
import { evaluate, ExpressionError, holds, parseExpression, parsePath, referencedKeys } from '../src/definitions/expression.js';

const data = {
  input: { vip: true, amount: 150, name: 'Ada', items: [1, 2, 3], nested: { a: { b: 'x' } }, zero: 0, empty: '' },
  output: (key: string): unknown =>
    ({ check: '{"score": 120, "tags": ["a", "b"]}', text: 'hello', num: '42', skipped: null } as Record<string, unknown>)[key],
};

describe('when expressions', () => {
  const cases: [string, unknown][] = [
    ['nodes.check.output.score > 100 && input.vip == true', true],
    ['nodes.check.output.score > 100 && input.vip == false', false],
    ['input.amount >= 150', true],
    ['input.amount > 150', false],
    ['input.amount < 200 || input.missing == 1', true],
    ['input.missing == null', true],
    ['input.missing.deeper == null', true],
    ['nodes.nope.output == null', true],
    ['nodes.skipped.output == null', true],
    ['input.name == "Ada"', true],
    ["input.name == 'Ada'", true],
    ['input.name != "Bob"', true],
    ['input.name < "Bob"', true],
    ['nodes.num.output == 42', true],
    ['nodes.num.output > 41.5', true],
    ['nodes.text.output == "hello"', true],
    ['nodes.text.output > 1', false],
    ['nodes.check.output.tags.1 == "b"', true],
    ['input.items.0 == 1', true],
    ['input.nested.a.b == "x"', true],
    ['!input.vip', false],
    ['!(input.amount > 200)', true],
    ['!!input.name', true],
    ['input.zero', false],
    ['input.empty || input.zero', false],
    ['(input.amount > 100 || false) && !(input.name == "Bob")', true],
    ['true && null', false],
    ['-1 < 0', true],
    ['1e3 == 1000', true],
    ['"a\\"b" == \'a"b\'', true],
    ['input.nested == input.nested', true],
    ['input.vip == "true"', false],
    ['null < 1', false],
  ];
  for (const [src, want] of cases) {
    it(`${src} → ${JSON.stringify(want)}`, () => {
      expect(holds(parseExpression(src), data)).to.equal(want);
    });
  }

  it('gives values, not only booleans, and reads paths', () => {
    expect(evaluate(parseExpression('input.amount'), data)).to.equal(150);
    expect(parsePath('input.items').path).to.deep.equal(['items']);
    expect(() => parsePath('input.a == 1')).to.throw(ExpressionError, /must be a path/);
  });

  it('names the nodes it reads', () => {
    expect([...referencedKeys(parseExpression('nodes.a.output.x > 1 && (nodes.b-2.output == 2 || !nodes.a.output)'))]).to.deep.equal(['a', 'b-2']);
  });

  const bad: [string, RegExp][] = [
    ['', /is empty/],
    ['input.amount >', /ends where a value was expected/],
    ['input.amount > > 1', /expected a value at character 16/],
    ['(input.vip', /expected "\)" at the end/],
    ['input.vip)', /unexpected at character 10/],
    ['amount > 1', /unknown name "amount" at character 1/],
    ['nodes.a.result > 1', /unknown name "nodes.a.result"/],
    ['input.a = 1', /unexpected "=" at character 9/],
    ['1 < 2 < 3', /comparisons do not chain/],
    ['"open', /unterminated string/],
    ['input.a + 1', /unexpected "\+"/],
    ['eval("x")', /unknown name "eval"/],
    ['!'.repeat(100) + 'true', /nested deeper than 64/],
    ['('.repeat(300) + '1' + ')'.repeat(300), /nested deeper than 64/],
    ['1 == ' + 'x'.repeat(1030), /at most 1024 characters/],
  ];
  for (const [src, msg] of bad) {
    it(`refuses ${JSON.stringify(src.slice(0, 40))}`, () => {
      expect(() => parseExpression(src)).to.throw(ExpressionError, msg);
    });
  }
});
