"""A numpy/scipy/scikit-image/OpenCV/Pillow port of the 18 ImageNet-C corruptions, the reference of
test/parity/corruptions.test.ts and of bench/corruptions.bench.ts.

What it ports: the formulas of bethgelab/imagecorruptions (`imagecorruptions/corruptions.py`),
which generalise Hendrycks' ImageNet-C code to any image size and replace its ImageMagick (Wand)
motion blur with a numpy version of the same kernel. Two corruptions differ between that package
and the paper's own copy of ImageNet-C (selous123/libadver `benchmark/utils.py`); there this port
follows the paper, as the library does:
- pixelate: BOX down-sampling and BOX up-sampling (imagecorruptions up-samples with NEAREST);
- elastic_transform: ImageNet-C's random affine warp plus the smoothed displacement field with
  the "244" constants (imagecorruptions dropped the affine step and changed the constants).
At sizes other than 224 px, clipped_zoom trims its result centrally (ImageNet-C) and the elastic
constants scale with the image side as in the library (244·side/224).

Every function takes an H×W×C float image in [0, 1] and returns one. Where a corruption is random,
`d` may hold the draws the library used (noise arrays, angles, shuffle offsets, plasma uniforms,
affine jitter, displacement noise); without `d` it draws from numpy as the reference does.

Usage:
  python3 corruptions_reference.py parity <manifest.json> <result.json>
  python3 corruptions_reference.py magick '{"images": ..., "shape": ..., "radius": r, "sigma": s, "angles": [...], "out": ...}'
  python3 corruptions_reference.py bench <n> <size> <seed> <types,...|all> <result.json>
"""
import inspect
import io
import json
import math
import sys
import time

import cv2
import numpy as np
import skimage as sk
from PIL import Image
from scipy.ndimage import map_coordinates
from scipy.ndimage import zoom as scizoom
from skimage.filters import gaussian

TYPES = ['gaussian_noise', 'shot_noise', 'impulse_noise', 'speckle_noise', 'gaussian_blur', 'glass_blur',
         'defocus_blur', 'motion_blur', 'zoom_blur', 'snow', 'frost', 'fog', 'brightness', 'contrast',
         'saturate', 'jpeg_compression', 'pixelate', 'elastic_transform']

# ---------------------------------------------------------------- helpers


def disk(radius, alias_blur):
    if radius <= 8:
        grid = np.arange(-8, 8 + 1)
        ksize = (3, 3)
    else:
        grid = np.arange(-radius, radius + 1)
        ksize = (5, 5)
    gx, gy = np.meshgrid(grid, grid)
    kernel = np.array((gx ** 2 + gy ** 2) <= radius ** 2, dtype=np.float32)
    kernel /= np.sum(kernel)
    return cv2.GaussianBlur(kernel, ksize=ksize, sigmaX=alias_blur)


def clipped_zoom(img, zoom_factor):
    """ImageNet-C: zoom the central crop with scipy (order 1), trim the centre back to the size."""
    h, w = img.shape[:2]
    ch = int(np.ceil(h / float(zoom_factor)))
    cw = int(np.ceil(w / float(zoom_factor)))
    top = (h - ch) // 2
    left = (w - cw) // 2
    out = scizoom(img[top:top + ch, left:left + cw], (zoom_factor, zoom_factor, 1), order=1)
    t = (out.shape[0] - h) // 2
    s = (out.shape[1] - w) // 2
    return out[t:t + h, s:s + w]


def shift_edge(image, dx, dy):
    """image shifted by (dx, dy) (content moves right/down for positive values), edges replicated."""
    if dx < 0:
        shifted = np.roll(image, shift=image.shape[1] + dx, axis=1)
        shifted[:, dx:] = shifted[:, dx - 1:dx]
    elif dx > 0:
        shifted = np.roll(image, shift=dx, axis=1)
        shifted[:, :dx] = shifted[:, dx:dx + 1]
    else:
        shifted = image
    if dy < 0:
        shifted = np.roll(shifted, shift=image.shape[0] + dy, axis=0)
        shifted[dy:, :] = shifted[dy - 1:dy, :]
    elif dy > 0:
        shifted = np.roll(shifted, shift=dy, axis=0)
        shifted[:dy, :] = shifted[dy:dy + 1, :]
    return shifted


def motion_blur_kernel(x, radius, sigma, angle):
    """imagecorruptions' numpy port of MagickMotionBlurImage."""
    width = radius * 2 + 1
    k = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2))
    k /= k.sum()
    point = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    hypot = math.hypot(point[0], point[1])
    blurred = np.zeros_like(x, dtype=np.float32)
    for i in range(width):
        dy = -math.ceil(((i * point[0]) / hypot) - 0.5)
        dx = -math.ceil(((i * point[1]) / hypot) - 0.5)
        if np.abs(dy) >= x.shape[0] or np.abs(dx) >= x.shape[1]:
            break
        blurred = blurred + k[i] * shift_edge(x, dx, dy)
    return blurred


def plasma_fractal(mapsize, wibbledecay, uniforms=None):
    """Diamond-square as ImageNet-C. `uniforms` (U(0, 1) draws in the library's order: per level
    the square centres row by row, then the edge points as (top, left) pairs) replaces numpy's."""
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize = mapsize
    wibble = 100.0
    pos = [0]

    def take(count):
        out = uniforms[pos[0]:pos[0] + count]
        pos[0] += count
        return out

    def jitter(shape, which=None, pairs=None):
        if uniforms is None:
            return wibble * np.random.uniform(-wibble, wibble, shape)
        u = pairs[..., which] if pairs is not None else take(shape[0] * shape[1]).reshape(shape)
        return wibble * (-wibble + 2 * wibble * u)

    while stepsize >= 2:
        half = stepsize // 2
        corners = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        acc = corners + np.roll(corners, shift=-1, axis=0)
        acc += np.roll(acc, shift=-1, axis=1)
        maparray[half:mapsize:stepsize, half:mapsize:stepsize] = acc / 4 + jitter(acc.shape)
        g = mapsize // stepsize
        pairs = None if uniforms is None else take(2 * g * g).reshape(g, g, 2)
        centres = maparray[half:mapsize:stepsize, half:mapsize:stepsize]
        corners = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        top = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        maparray[0:mapsize:stepsize, half:mapsize:stepsize] = top / 4 + jitter(top.shape, 0, pairs)
        left = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        maparray[half:mapsize:stepsize, 0:mapsize:stepsize] = left / 4 + jitter(left.shape, 1, pairs)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


def next_power_of_2(x):
    return 1 if x == 0 else 2 ** (x - 1).bit_length()


def to_uint8(x):
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- the 18 corruptions


def gaussian_noise(x, s, d=None):
    c = [.08, .12, 0.18, 0.26, 0.38][s - 1]
    noise = d['noise'] if d else np.random.normal(size=x.shape, scale=c)
    return np.clip(x + noise, 0, 1)


def shot_noise(x, s, d=None):
    c = [60, 25, 12, 5, 3][s - 1]
    return np.clip(np.random.poisson(x * c) / float(c), 0, 1)


def impulse_noise(x, s, d=None):
    c = [.03, .06, .09, 0.17, 0.27][s - 1]
    # a seed from numpy's global stream, so np.random.seed makes the draws repeatable
    seed = np.random.randint(1 << 31)
    key = 'rng' if 'rng' in inspect.signature(sk.util.random_noise).parameters else 'seed'
    return np.clip(sk.util.random_noise(x, mode='s&p', amount=c, **{key: seed}), 0, 1)


def speckle_noise(x, s, d=None):
    c = [.15, .2, 0.35, 0.45, 0.6][s - 1]
    noise = d['noise'] if d else np.random.normal(size=x.shape, scale=c)
    return np.clip(x + x * noise, 0, 1)


def gaussian_blur(x, s, d=None):
    c = [1, 2, 3, 4, 6][s - 1]
    return np.clip(gaussian(x, sigma=c, channel_axis=-1), 0, 1)


def glass_blur(x, s, d=None, eight_bit=True):
    """`eight_bit`: the reference's np.uint8(... * 255) after the first blur (a floor)."""
    sigma, delta, iterations = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][s - 1]
    x = gaussian(x, sigma=sigma, channel_axis=-1)
    x = np.uint8(x * 255) if eight_bit else x.astype(np.float32)
    h, w = x.shape[:2]
    shifts = d['shifts'] if d else None
    for i in range(iterations):
        for r, hh in enumerate(range(h - delta, delta, -1)):
            for q, ww in enumerate(range(w - delta, delta, -1)):
                if shifts is None:
                    dx, dy = np.random.randint(-delta, delta, size=(2,))
                else:
                    dx, dy = int(shifts[i, r, q, 0]), int(shifts[i, r, q, 1])
                hp, wp = hh + dy, ww + dx
                # the reference's tuple assignment, kept as written: on H×W×3 arrays the right-hand
                # side holds views, so pixel (hh, ww) is overwritten and (hp, wp) keeps its value
                x[hh, ww], x[hp, wp] = x[hp, wp], x[hh, ww]
    x = x / 255. if eight_bit else x.astype(np.float64)
    return np.clip(gaussian(x, sigma=sigma, channel_axis=-1), 0, 1)


def defocus_blur(x, s, d=None):
    radius, alias = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][s - 1]
    kernel = disk(radius, alias)
    channels = [cv2.filter2D(x[:, :, k], -1, kernel) for k in range(x.shape[2])]
    return np.clip(np.stack(channels, axis=-1), 0, 1)


def motion_blur(x, s, d=None):
    radius, sigma = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][s - 1]
    angle = d['angle'] if d else np.random.uniform(-45, 45)
    return np.clip(motion_blur_kernel(x, radius, sigma, angle), 0, 1)


def zoom_blur(x, s, d=None):
    zooms = [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
             np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)][s - 1]
    x = x.astype(np.float32)
    out = np.zeros_like(x)
    for z in zooms:
        out += clipped_zoom(x, z)
    return np.clip((x + out) / (len(zooms) + 1), 0, 1)


def snow(x, s, d=None, eight_bit=True):
    """`eight_bit`: imagecorruptions rounds the blurred snow layer to 8 bits."""
    c = [(0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
         (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)][s - 1]
    x = np.array(x, dtype=np.float32)
    layer = d['layer'] if d else np.random.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    layer = clipped_zoom(layer[..., np.newaxis], c[2])
    layer[layer < c[3]] = 0
    layer = np.clip(layer.squeeze(-1), 0, 1)
    angle = d['angle'] if d else np.random.uniform(-135, -45)
    layer = motion_blur_kernel(layer, c[4], c[5], angle)
    if eight_bit:
        layer = np.round(layer * 255).astype(np.uint8) / 255.
    layer = layer[..., np.newaxis]
    if x.shape[2] == 1:
        grey = x
    else:
        grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., np.newaxis]
    x = c[6] * x + (1 - c[6]) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2), 0, 1)


def frost(x, s, d=None):
    """The blend clip(a·x + b·frost); the frost texture comes in `d` (the library's) or, without
    it, from a random crop of one of the first five photographs in FROST_PHOTOS (bench only)."""
    a, b = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)][s - 1]
    if d:
        texture = d['texture']
    else:
        photo = FROST_PHOTOS[np.random.randint(len(FROST_PHOTOS))]
        top = np.random.randint(0, photo.shape[0] - x.shape[0])
        left = np.random.randint(0, photo.shape[1] - x.shape[1])
        texture = photo[top:top + x.shape[0], left:left + x.shape[1]][..., [2, 1, 0]] / 255.
    return np.clip(a * x + b * texture, 0, 1)


def fog(x, s, d=None):
    strength, decay = [(1.5, 2), (2., 2), (2.5, 1.7), (2.5, 1.5), (3., 1.4)][s - 1]
    h, w = x.shape[:2]
    size = next_power_of_2(int(max(h, w, 2)))
    max_val = x.max()
    plasma = plasma_fractal(size, decay, d['uniforms'] if d else None)[:h, :w][..., np.newaxis]
    return np.clip((x + strength * plasma) * max_val / (max_val + strength), 0, 1)


def hsv_edit(x, channel, fn):
    grey = x.shape[2] == 1
    rgb = np.repeat(x, 3, axis=2) if grey else x
    hsv = sk.color.rgb2hsv(rgb)
    hsv[:, :, channel] = fn(hsv[:, :, channel])
    out = sk.color.hsv2rgb(hsv)
    if grey:
        out = (out @ np.array([0.299, 0.587, 0.114]))[..., np.newaxis]
    return np.clip(out, 0, 1)


def brightness(x, s, d=None):
    c = [.1, .2, .3, .4, .5][s - 1]
    return hsv_edit(x, 2, lambda v: np.clip(v + c, 0, 1))


def contrast(x, s, d=None):
    c = [0.4, .3, .2, .1, .05][s - 1]
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1)


def saturate(x, s, d=None):
    c = [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)][s - 1]
    return hsv_edit(x, 1, lambda v: np.clip(v * c[0] + c[1], 0, 1))


def jpeg_compression(x, s, d=None):
    c = [25, 18, 15, 10, 7][s - 1]
    u8 = to_uint8(x)
    image = Image.fromarray(u8[..., 0] if u8.shape[2] == 1 else u8)
    buf = io.BytesIO()
    image.save(buf, 'JPEG', quality=c)
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue()))).astype(np.float64) / 255.
    return out.reshape(x.shape)


def pixelate(x, s, d=None):
    c = [0.6, 0.5, 0.4, 0.3, 0.25][s - 1]
    h, w = x.shape[:2]
    u8 = to_uint8(x)
    image = Image.fromarray(u8[..., 0] if u8.shape[2] == 1 else u8)
    image = image.resize((int(w * c), int(h * c)), Image.BOX).resize((w, h), Image.BOX)
    return (np.asarray(image).astype(np.float64) / 255.).reshape(x.shape)


def elastic_transform(x, s, d=None):
    h, w = x.shape[:2]
    unit = 244 * min(h, w) / 224.
    alpha, sigma, jitter = [(2 * unit, 0.7 * unit, 0.1 * unit), (2 * unit, 0.08 * unit, 0.2 * unit),
                            (0.05 * unit, 0.01 * unit, 0.02 * unit), (0.07 * unit, 0.01 * unit, 0.02 * unit),
                            (0.12 * unit, 0.01 * unit, 0.02 * unit)][s - 1]
    image = np.array(x, dtype=np.float32)
    # ImageNet-C's points, written (x, y) for cv2: the centre is (W//2, H//2) (identical on squares)
    centre = np.float32([w // 2, h // 2])
    side = min(h, w) // 3
    pts1 = np.float32([centre + side, [centre[0] + side, centre[1] - side], centre - side])
    moves = d['affine'] if d else np.random.uniform(-jitter, jitter, size=pts1.shape)
    pts2 = pts1 + np.asarray(moves, dtype=np.float32)
    m = cv2.getAffineTransform(pts1, pts2)
    image = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    if image.ndim == 2:
        image = image[..., np.newaxis]
    ux = d['dx'] if d else np.random.uniform(-1, 1, size=(h, w))
    uy = d['dy'] if d else np.random.uniform(-1, 1, size=(h, w))
    dx = (gaussian(ux, sigma, mode='reflect', truncate=3) * alpha).astype(np.float32)[..., np.newaxis]
    dy = (gaussian(uy, sigma, mode='reflect', truncate=3) * alpha).astype(np.float32)[..., np.newaxis]
    gx, gy, gz = np.meshgrid(np.arange(w), np.arange(h), np.arange(image.shape[2]))
    indices = np.reshape(gy + dy, (-1, 1)), np.reshape(gx + dx, (-1, 1)), np.reshape(gz, (-1, 1))
    return np.clip(map_coordinates(image, indices, order=1, mode='reflect').reshape(image.shape), 0, 1)


FUNCTIONS = {name: globals()[name] for name in TYPES}
FROST_PHOTOS = []

# ---------------------------------------------------------------- drivers


def read(path, shape, dtype=np.float32):
    return np.fromfile(path, dtype=dtype).reshape(shape)


def stats(ours, ref):
    diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    return {'max': float(diff.max()), 'mean': float(diff.mean()), 'over1': float(np.mean(diff > 1.5 / 255))}


def noise_statistics(kind, x, ours, c):
    """Distribution checks where the random streams cannot match: numpy's draws on the same images."""
    ref = np.stack([FUNCTIONS[kind](img, c) for img in x])
    if kind == 'impulse_noise':
        def fractions(out):
            return [float(np.mean(out == 0) - np.mean(x == 0)), float(np.mean(out == 1) - np.mean(x == 1)),
                    float(np.mean(np.abs(out - x) < 1e-6))]
        return {'ours': fractions(ours), 'numpy': fractions(ref)}
    # shot noise: mean and standard deviation of the change, and of the change where x is mid-grey
    def moments(out):
        delta = out.astype(np.float64) - x
        mid = (x > 0.25) & (x < 0.75)
        return [float(delta.mean()), float(delta.std()), float(delta[mid].std())]
    return {'ours': moments(ours), 'numpy': moments(ref)}


def parity(manifest_path, result_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    shape = manifest['shape']
    x = read(manifest['images'], shape).astype(np.float64)
    np.random.seed(manifest.get('seed', 0))
    results = []
    for case in manifest['cases']:
        kind, severity = case['type'], case['severity']
        ours = read(case['output'], shape)
        row = {'type': kind, 'severity': severity}
        if kind in ('shot_noise', 'impulse_noise'):
            row['statistics'] = noise_statistics(kind, x, ours, severity)
            results.append(row)
            continue
        draws = case.get('draws', [None] * shape[0])
        refs, plain = [], []
        for b in range(shape[0]):
            d = None
            if draws[b] is not None:
                d = {}
                for key, spec in draws[b].items():
                    if isinstance(spec, dict):
                        d[key] = read(spec['file'], spec['shape'], np.dtype(spec.get('dtype', 'float32')))
                    else:
                        d[key] = spec
            refs.append(FUNCTIONS[kind](x[b], severity, d))
            if kind in ('glass_blur', 'snow'):
                plain.append(FUNCTIONS[kind](x[b], severity, d, eight_bit=False))
        row.update(stats(ours, np.stack(refs)))
        if plain:
            row['without8bit'] = stats(ours, np.stack(plain))
        results.append(row)
    with open(result_path, 'w') as f:
        json.dump(results, f)


def bench(n, size, seed, types, result_path):
    """Times every corruption × 5 severities on n random size×size RGB images (numpy's own draws).
    frost crops ImageNet-C's photographs from $IMAGECORRUPTIONS_FROST when set, else random arrays of
    the same size (the blend costs the same)."""
    import glob
    import os
    root = os.environ.get('IMAGECORRUPTIONS_FROST', '')
    for path in sorted(glob.glob(os.path.join(root, 'frost*')))[:5] if root else []:
        FROST_PHOTOS.append(cv2.imread(path))
    rng = np.random.RandomState(seed)
    if not FROST_PHOTOS:
        FROST_PHOTOS.extend(rng.randint(0, 256, size=(max(size + 1, 512), max(size + 1, 768), 3)).astype(np.uint8) for _ in range(5))
    np.random.seed(seed)
    images = [rng.rand(size, size, 3) for _ in range(n)]
    out = {}
    for kind in types:
        t0 = time.perf_counter()
        c0 = time.process_time()
        for severity in range(1, 6):
            for img in images:
                FUNCTIONS[kind](img, severity)
        out[kind] = {'wall': time.perf_counter() - t0, 'cpu': time.process_time() - c0}
    with open(result_path, 'w') as f:
        json.dump(out, f)


def magick(image_path, shape, radius, sigma, angles, out_path):
    """ImageMagick's own `convert -motion-blur RxS+A` (what ImageNet-C calls through Wand) on the
    8-bit PNG of each image, one angle per image."""
    import os
    import subprocess
    import tempfile
    x = read(image_path, shape)
    outs = []
    with tempfile.TemporaryDirectory() as d:
        for b, angle in enumerate(angles):
            src, dst = os.path.join(d, 'in.png'), os.path.join(d, 'out.png')
            Image.fromarray(to_uint8(x[b])).save(src)
            subprocess.check_call(['convert', src, '-motion-blur', '%gx%g%+.6f' % (radius, sigma, angle), dst])
            outs.append(np.asarray(Image.open(dst).convert('RGB')).astype(np.float32) / 255.)
    np.stack(outs).astype(np.float32).tofile(out_path)


if __name__ == '__main__':
    if sys.argv[1] == 'parity':
        parity(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == 'magick':
        spec = json.loads(sys.argv[2])
        magick(spec['images'], spec['shape'], spec['radius'], spec['sigma'], spec['angles'], spec['out'])
    elif sys.argv[1] == 'bench':
        kinds = TYPES if sys.argv[5] == 'all' else sys.argv[5].split(',')
        bench(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), kinds, sys.argv[6])
    else:
        raise SystemExit(__doc__)
