import { describe, expect, it } from 'vitest';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  selectorFromObject,
  selectorToString,
} from '../../api/selectors.js';
import { ApiError } from '../../api/types.js';

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'front', version: '3' };

  it('parses and matches equality requirements', () => {
    expect(matchesLabels(parseLabelSelector('app=web'), labels)).toBe(true);
    expect(matchesLabels(parseLabelSelector('app==web,tier=front'), labels)).toBe(true);
    expect(matchesLabels(parseLabelSelector('app!=web'), labels)).toBe(false);
    expect(matchesLabels(parseLabelSelector('missing!=x'), labels)).toBe(true);
    expect(matchesLabels(parseLabelSelector('app=db'), labels)).toBe(false);
  });

  it('parses and matches set-based requirements', () => {
    expect(matchesLabels(parseLabelSelector('app in (web, db)'), labels)).toBe(true);
    expect(matchesLabels(parseLabelSelector('app notin (web)'), labels)).toBe(false);
    expect(matchesLabels(parseLabelSelector('tier'), labels)).toBe(true);
    expect(matchesLabels(parseLabelSelector('!tier'), labels)).toBe(false);
    expect(matchesLabels(parseLabelSelector('!gone,app in (web),version>2'), labels)).toBe(true);
    expect(matchesLabels(parseLabelSelector('version<3'), labels)).toBe(false);
  });

  it('the empty selector matches everything', () => {
    expect(parseLabelSelector('')).toEqual([]);
    expect(matchesLabels([], undefined)).toBe(true);
  });

  it('rejects bad syntax with a 400', () => {
    for (const bad of ['app=', 'app in web', '=x', 'a,,b', 'app in (a', 'bad key!=x y']) {
      if (bad === 'app=') continue; // an empty value is legal
      let err: unknown;
      try {
        parseLabelSelector(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe(400);
    }
  });

  it('converts LabelSelector objects (matchLabels + matchExpressions)', () => {
    const sel = selectorFromObject({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['front', 'back'] },
        { key: 'canary', operator: 'DoesNotExist' },
        { key: 'version', operator: 'Exists' },
      ],
    });
    expect(matchesLabels(sel, labels)).toBe(true);
    expect(matchesLabels(sel, { ...labels, canary: 'yes' })).toBe(false);
    expect(selectorToString(sel)).toBe('app=web,tier in (back,front),!canary,version');
    expect(() => selectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Near' }] })).toThrow(ApiError);
  });
});

describe('field selectors', () => {
  const pod = { metadata: { name: 'p1', namespace: 'ns1' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } };

  it('matches metadata and pod fields', () => {
    expect(matchesFields(parseFieldSelector('metadata.name=p1', 'Pod'), pod)).toBe(true);
    expect(matchesFields(parseFieldSelector('metadata.namespace!=ns1', 'Pod'), pod)).toBe(false);
    expect(matchesFields(parseFieldSelector('spec.nodeName=n1,status.phase=Running', 'Pod'), pod)).toBe(true);
    expect(matchesFields(parseFieldSelector('spec.nodeName=', 'Pod'), { metadata: { name: 'x' } })).toBe(true);
  });

  it('rejects fields a kind does not support', () => {
    expect(() => parseFieldSelector('spec.nodeName=n1', 'ConfigMap')).toThrow(/field label not supported: spec.nodeName/);
    expect(() => parseFieldSelector('garbage', 'Pod')).toThrow(ApiError);
  });
});
