import { describe, expect, it } from 'vitest';
import { heatmapGridSpec, heatmapSpec, lineChartSpec, markdownTable, scatterSpec, toCsv } from '../../src/report/index.js';
import { renderSvg } from '../../src/cli/render.js';

describe('report tables', () => {
  it('markdownTable right-aligns numeric columns, formats decimals and escapes pipes', () => {
    const md = markdownTable([{ attack: 'pgd|l2', epsilon: 2, accuracy: 0.125 }, { attack: 'none', epsilon: 0, accuracy: 1 }]);
    expect(md).toBe(['| attack | epsilon | accuracy |', '|---|---:|---:|', '| pgd\\|l2 | 2 | 0.1250 |', '| none | 0 | 1 |'].join('\n'));
    expect(markdownTable([{ a: 1.23456 }], { digits: 1 })).toContain('| 1.2 |');
    expect(markdownTable([{ a: 1, b: 'x' }, { b: 'y', c: 3 }], { columns: ['c', 'a'] }).split('\n')[0]).toBe('| c | a |');
  });

  it('toCsv quotes fields with commas, quotes or newlines and keeps full precision', () => {
    expect(toCsv([{ name: 'a,b', note: 'say "hi"', value: 0.1 + 0.2 }, { name: 'x\ny' }])).toBe('name,note,value\n"a,b","say ""hi""",0.30000000000000004\n"x\ny",,\n');
  });
});

describe('plot specs', () => {
  it('build Vega-Lite specs that render to SVG with the data in them', async () => {
    const line = lineChartSpec([{ e: 0, acc: 0.9, attack: 'pgd' }, { e: 4, acc: 0.1, attack: 'pgd' }], { x: 'e', y: 'acc', color: 'attack', title: 'Accuracy' });
    expect((line.encoding as Record<string, { field: string }>).x!.field).toBe('e');
    const svg = await renderSvg(line);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('Accuracy');
    const heat = heatmapSpec([[3, 1], [1, 5]], ['Effusion', 'Cardiomegaly'], { title: 'Co-occurrence' });
    expect((heat.data as { values: unknown[] }).values).toHaveLength(4);
    expect(await renderSvg(heat)).toContain('Cardiomegaly');
    const scatter = scatterSpec([{ x: 0, y: 1, label: 'benign', source: 'clean' }], { color: 'label', shape: 'source', title: 't-SNE' });
    expect(await renderSvg(scatter)).toContain('benign');
  });
});

describe('heatmaps', () => {
  type Layer = { encoding: { color?: { title: string; scale: { domain?: number[] } } } };
  it('heatmapSpec titles its colour legend and takes a fixed domain', async () => {
    const spec = heatmapSpec([[3, 1], [1, 5]], ['A', 'B'], { title: 'Co-occurrence', legendTitle: 'images', domain: [0, 10] });
    const color = (spec.layer as Layer[])[0]!.encoding.color!;
    expect(color.title).toBe('images');
    expect(color.scale.domain).toEqual([0, 10]);
    expect(await renderSvg(spec)).toContain('images');
  });

  it('heatmapGridSpec puts the panels on one colour scale spanning all their values, with one titled legend', async () => {
    const spec = heatmapGridSpec([{ title: 'truth', matrix: [[3, 1], [1, 5]] }, { title: 'adversarial', matrix: [[0, 40], [40, 2]] }], ['A', 'B'], { title: 'Label co-occurrence', legendTitle: 'images' });
    const panels = spec.hconcat as { title: string; layer: Layer[] }[];
    expect(panels.map((p) => p.title)).toEqual(['truth', 'adversarial']);
    for (const p of panels) expect(p.layer[0]!.encoding.color!.scale.domain).toEqual([0, 40]);
    expect(spec.resolve).toEqual({ scale: { color: 'shared' } });
    const svg = await renderSvg(spec);
    // One legend (its title appears once) and both panel titles.
    expect(svg.match(/>images</g)).toHaveLength(1);
    expect(svg).toContain('adversarial');
  });
});
