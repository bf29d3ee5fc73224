import { describe, expect, it } from 'vitest';
import { extractPlaceholders, parameterFormat, requiredParameters, urlSuffixExample } from '../../src/services/templates/parameters.js';

describe('extractPlaceholders', () => {
  it('finds positional placeholders once each, in numeric order', () => {
    expect(extractPlaceholders('Hi {{2}}, order {{1}} for {{2}}')).toEqual(['1', '2']);
  });

  it('finds named placeholders in order of appearance, tolerating spaces', () => {
    expect(extractPlaceholders('Hi {{ first_name }}, welcome to {{shop}}!')).toEqual(['first_name', 'shop']);
  });

  it('returns nothing for text without placeholders or no text', () => {
    expect(extractPlaceholders('Hello World')).toEqual([]);
    expect(extractPlaceholders(undefined)).toEqual([]);
  });
});

describe('requiredParameters', () => {
  it('lists header, body and URL-button parameters with examples', () => {
    const params = requiredParameters({
      id: '1',
      name: 'order_update',
      language: 'en_US',
      status: 'APPROVED',
      components: [
        { type: 'HEADER', format: 'TEXT', text: 'Order {{1}}', example: { header_text: ['#123'] } },
        { type: 'BODY', text: 'Hi {{1}}, order {{2}} shipped.', example: { body_text: [['Ana', '#123']] } },
        { type: 'FOOTER', text: 'Lumen' },
        {
          type: 'BUTTONS',
          buttons: [
            { type: 'QUICK_REPLY', text: 'Stop' },
            { type: 'URL', text: 'Track', url: 'https://x.example/t/{{1}}', example: ['https://x.example/t/A1'] },
            { type: 'COPY_CODE', example: 'SAVE10' },
          ],
        },
      ],
    });
    expect(params).toEqual([
      { component: 'header', name: '1', type: 'text', example: '#123' },
      { component: 'body', name: '1', type: 'text', example: 'Ana' },
      { component: 'body', name: '2', type: 'text', example: '#123' },
      { component: 'button', name: '1', type: 'text', buttonIndex: 1, subType: 'url', example: 'A1' }, // only the suffix: the URL has the rest
      { component: 'button', name: 'coupon_code', type: 'coupon_code', buttonIndex: 2, subType: 'copy_code' },
    ]);
  });

  it('uses named examples for NAMED templates', () => {
    const template = {
      id: '2',
      name: 'welcome',
      language: 'en_US',
      status: 'APPROVED',
      parameter_format: 'NAMED',
      components: [
        {
          type: 'BODY',
          text: 'Hi {{first_name}}, welcome to {{shop}}!',
          example: { body_text_named_params: [{ param_name: 'first_name', example: 'Ana' }] },
        },
      ],
    };
    expect(parameterFormat(template)).toBe('NAMED');
    expect(requiredParameters(template)).toEqual([
      { component: 'body', name: 'first_name', type: 'text', example: 'Ana' },
      { component: 'body', name: 'shop', type: 'text' },
    ]);
  });

  it('asks for the media of an IMAGE header', () => {
    expect(
      requiredParameters({ id: '3', name: 'promo', language: 'en', status: 'APPROVED', components: [{ type: 'HEADER', format: 'IMAGE' }] }),
    ).toEqual([{ component: 'header', name: 'image', type: 'image' }]);
  });

  it('treats templates without parameter_format as POSITIONAL', () => {
    expect(parameterFormat({ id: '4', name: 'x', language: 'en', status: 'APPROVED' })).toBe('POSITIONAL');
  });
});

describe('a URL button\'s example', () => {
  it('is the part the placeholder stands for, never the whole URL', () => {
    expect(urlSuffixExample('https://x.example/t/{{1}}', 'https://x.example/t/A1')).toBe('A1');
    expect(urlSuffixExample('https://x.example/t/{{1}}?ref=wa', 'https://x.example/t/A1?ref=wa')).toBe('A1');
    expect(urlSuffixExample('https://x.example/t/{{1}}', 'A1')).toBe('A1');
    expect(urlSuffixExample('https://x.example/t/{{1}}', 'https://elsewhere.example/A1')).toBeUndefined();
    expect(urlSuffixExample('https://x.example/t/{{1}}', undefined)).toBeUndefined();
  });
});
