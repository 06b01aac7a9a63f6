import { describe, expect, it } from 'vitest';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
import { parseChestXray14List, parseLabelCsv } from '../../src/data/labelFiles.js';

describe('parseChestXray14List', () => {
  it('reads CheXNet label lists into multi-hot rows', () => {
    const rows = parseChestXray14List('00000001_000.png 0 1 0 0 0 0 0 0 0 0 0 0 0 0\r\n\n00000002_000.png 1 0 1 0 0 0 0 0 0 0 0 0 0 1\n');
    expect(rows).toEqual([
      { file: '00000001_000.png', label: [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
      { file: '00000002_000.png', label: [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] },
    ]);
  });
  describe('rejects bad input', () => {
    it('names the bad line', () => {
      expect(() => parseChestXray14List('a.png 0 1\nb.png 1\n')).toThrow(/line 2 has 1 labels/);
      expect(() => parseChestXray14List('a.png 0 2\n')).toThrow(FormatError);
      expect(() => parseChestXray14List('a.png\n')).toThrow(/no labels/);
      expect(() => parseChestXray14List(3 as never)).toThrow(InvalidArgumentError);
    });
  });
});

describe('parseLabelCsv', () => {
  it('reads ISIC 2016 ground truth with word or number labels and skips a header', () => {
    expect(parseLabelCsv('image_id,label\nISIC_0000000,benign\nISIC_0000001,Malignant\nISIC_0000003,1.0\n')).toEqual([
      { file: 'ISIC_0000000', label: 0 }, { file: 'ISIC_0000001', label: 1 }, { file: 'ISIC_0000003', label: 1 },
    ]);
    expect(parseLabelCsv('x.png,mild\n', { classNames: ['none', 'mild'] })).toEqual([{ file: 'x.png', label: 1 }]);
  });
  describe('rejects bad input', () => {
    it('unknown labels after the first line, short lines, bad options', () => {
      expect(() => parseLabelCsv('a,benign\nb,cyst\n')).toThrow(/line 2 has the label 'cyst'/);
      expect(() => parseLabelCsv('a,benign\nb\n')).toThrow(/fewer than two columns/);
      expect(() => parseLabelCsv('a,0\nb,2\n')).toThrow(FormatError);
      expect(() => parseLabelCsv('a,0', { classes: ['a'] } as never)).toThrow(/classNames/);
    });
  });
});
