/*
 * What the VLASS site-tool simulators share (pimscache, annotateqa,
 * annotateqase, annotateqasecube, create_component_list,
 * create_cube_component_list). Not a tool itself: the tool map only takes
 * files without a dot in their name (libs/execution/src/tools.ts).
 *
 * Their wfs tool names are the site scripts' names in the form a definition's
 * `executable` and WFS_TOOL_<NAME> can take (lower case, "_" for "-"):
 * annotateQa.py is `annotateqa` (WFS_TOOL_ANNOTATEQA=/lustre/.../annotateQa.py),
 * create-component-list.sh is `create_component_list`.
 *
 * Conventions (WORKFLOWS "Simulator conventions", "VLASS definitions"):
 * - any subject works without seeding;
 * - SIMSLOW-<s> in the subject: run s seconds first (printing progress);
 * - SIMFAIL-<TOOL> (the tool's name upper-cased, no dashes): a realistic
 *   error on stderr, exit 1;
 * - exit 2 on bad usage; SIGTERM/SIGINT end at once (143/130);
 * - each writes <tool>_inputs_used.json (names + sha256 of what it read) in
 *   its output directory; the tools run once per item or image, side by side
 *   in one directory (pimscache split, the component lists), prefix it with
 *   the item or image: <item>.pimscache_inputs_used.json;
 * - WFS_RESULT_FILE set: one JSON object there (the job's result, < 64 KiB).
 */
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** A plain file name: no directories, never hidden (items and image names become file names). */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9.+_-]{0,199}$/;

function onSignals() {
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]]) process.on(signal, () => process.exit(code));
}

/** --name value or --name=value; `required` must all be given, nothing outside `optional` too. */
function parseArgs(tool, usage, argv, required, optional = []) {
  const fail = (message) => {
    process.stderr.write(`${tool}: ${message}\n${usage}\n`);
    process.exit(2);
  };
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--help' || argv[i] === '-h') (process.stdout.write(`${usage}\n`), process.exit(0));
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(argv[i]);
    if (!m) fail(`unexpected argument "${argv[i]}"`);
    if (![...required, ...optional].includes(m[1])) fail(`unknown option --${m[1]}`);
    const value = m[2] !== undefined ? m[2] : argv[++i];
    if (value === undefined || value === '') fail(`--${m[1]} needs a value`);
    opts[m[1]] = value;
  }
  for (const name of required) if (!opts[name]) fail(`--${name} is required`);
  opts.fail = fail;
  return opts;
}

/** SIMSLOW-<s>: s seconds of work first, one progress line a second. */
async function slowdown(tool, subject) {
  const slow = Number((/SIMSLOW-(\d+)/.exec(subject) || [])[1] || 0);
  for (let s = 1; s <= slow; s++) (await sleep(1000), console.log(`${tool}: working... ${s}/${slow} s`));
}

/** SIMFAIL-<TOKEN> as a whole word: SIMFAIL-ANNOTATEQA must not fire on SIMFAIL-ANNOTATEQASE. */
const failsOn = (subject, token) => new RegExp(`SIMFAIL-${token}(?![A-Z0-9-])`).test(subject);

/** A Python-style traceback, as the site's scripts print when they die, then exit 1. */
function die(script, line, exception, message) {
  process.stderr.write(
    `Traceback (most recent call last):\n  File "/lustre/aoc/cluster/pipeline/vlass_prod/sbin/${script}", line ${line}, in <module>\n` +
      `    main()\n  File "/lustre/aoc/cluster/pipeline/vlass_prod/sbin/${script}", line ${line - 40}, in main\n` +
      `    raise ${exception}(msg)\n${exception}: ${message}\n`,
  );
  process.exit(1);
}

function writeResult(result) {
  const file = process.env.WFS_RESULT_FILE;
  if (file) fs.writeFileSync(file, `${JSON.stringify(result)}\n`);
}

/** <dir>/<tool>_inputs_used.json: {name: {sha256, size}} of every file the tool read. */
function recordInputs(dir, tool, files, base = null) {
  const used = {};
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    used[base ? path.relative(base, f) : path.basename(f)] = { sha256: sha256(bytes), size: bytes.length };
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${tool}_inputs_used.json`), `${JSON.stringify(used, null, 2)}\n`);
  return used;
}

/** A deterministic stream of numbers in [0, 1) from a seed (the same image gives the same noise). */
function random(seed) {
  let state = crypto.createHash('sha256').update(seed).digest();
  let i = 0;
  return () => {
    if (i + 4 > state.length) (state = crypto.createHash('sha256').update(state).digest()), (i = 0);
    const v = state.readUInt32BE(i) / 2 ** 32;
    i += 4;
    return v;
  };
}

/** The header cards and float32 pixels of a simple FITS image (BITPIX -32, 2 axes). */
function readFits(file) {
  const bytes = fs.readFileSync(file);
  const header = {};
  let offset = 0;
  for (let end = false; !end && offset + 2880 <= bytes.length; offset += 2880) {
    for (let c = 0; c < 36; c++) {
      const card = bytes.toString('latin1', offset + c * 80, offset + c * 80 + 80);
      const key = card.slice(0, 8).trim();
      if (key === 'END') (end = true);
      if (card[8] !== '=') continue;
      const raw = card.slice(10).trim();
      header[key] = raw.startsWith("'") ? raw.slice(1, raw.indexOf("'", 1)).trim() : raw === 'T' ? true : raw === 'F' ? false : Number(raw);
    }
  }
  if (header.SIMPLE !== true) throw new Error(`${path.basename(file)} is not a FITS file`);
  const n = (header.NAXIS1 || 0) * (header.NAXIS2 || 0);
  if (header.BITPIX !== -32 || bytes.length < offset + n * 4) throw new Error(`${path.basename(file)}: only 2-d float32 images are read`);
  const pixels = Array.from({ length: n }, (_, i) => bytes.readFloatBE(offset + i * 4));
  return { header, pixels, width: header.NAXIS1, height: header.NAXIS2 };
}

/**
 * Noise and peak of an image: the rms of the pixels at least 5 pixels from
 * the centre (where the simulated source is) and the largest pixel.
 */
function imageStats({ pixels, width, height }) {
  const cx = (width - 1) / 2, cy = (height - 1) / 2;
  const outer = pixels.filter((_, i) => Math.hypot((i % width) - cx, Math.floor(i / width) - cy) >= 5);
  const mean = outer.reduce((a, b) => a + b, 0) / outer.length;
  const rms = Math.sqrt(outer.reduce((a, b) => a + (b - mean) ** 2, 0) / outer.length);
  return { rms, peak: Math.max(...pixels) };
}

/**
 * annotateQa, annotateQaSE, annotateQaSECube: the survey's automatic QA of
 * the images <name>.* (FITS) of --images: per image its rms, peak, beam and a
 * verdict in <out>/<name>.qa.json; the job's result says pass or warn. An
 * image is "warn" when its noise is above the survey's limit or its peak is
 * under 5 sigma (the limits are the simulator's, of the order of VLASS's).
 */
async function annotateQa({ tool, script, token, rmsLimitMicroJy }) {
  const usage = `usage: ${tool} --subject <subject> --images <dir> --image-name <name> --out <dir>`;
  onSignals();
  const opts = parseArgs(tool, usage, process.argv.slice(2), ['subject', 'images', 'image-name', 'out']);
  const name = opts['image-name'];
  if (!PLAIN_NAME.test(name)) opts.fail('--image-name must be a plain file name');
  await slowdown(tool, opts.subject);
  if (failsOn(opts.subject, token))
    die(script, 212, 'RuntimeError', `${tool}: cannot fit the restoring beam of ${name}: the image is blank beyond the primary beam (SIMFAIL-${token})`);
  const dir = path.resolve(opts.images);
  const files = (fs.existsSync(dir) ? fs.readdirSync(dir) : []).filter((f) => f.startsWith(`${name}.`) && /\.fits$/.test(f)).sort();
  if (!files.length) die(script, 98, 'FileNotFoundError', `${tool}: no FITS images ${name}.*.fits in ${dir}`);
  const images = [];
  for (const f of files) {
    console.log(`${tool}: measuring ${f}`);
    let fitsImage;
    try {
      fitsImage = readFits(path.join(dir, f));
    } catch (e) {
      die(script, 131, 'OSError', `${tool}: ${e.message}`);
    }
    const { rms, peak } = imageStats(fitsImage);
    const h = fitsImage.header;
    // An rms map or a spectral-index map is described, not judged.
    const kind = /\.rms\./.test(f) ? 'rms' : /\.alpha\./.test(f) ? 'alpha' : 'image';
    const rmsMicroJy = Number((rms * 1e6).toFixed(2));
    const verdict = kind !== 'image' || (rmsMicroJy <= rmsLimitMicroJy && peak >= 5 * rms) ? 'pass' : 'warn';
    images.push({
      file: f,
      kind,
      unit: h.BUNIT || '',
      rmsMicroJy,
      peakMilliJy: Number((peak * 1e3).toFixed(3)),
      beam: h.BMAJ ? { majorArcsec: Number((h.BMAJ * 3600).toFixed(2)), minorArcsec: Number((h.BMIN * 3600).toFixed(2)), paDeg: h.BPA } : null,
      qa: verdict,
    });
  }
  const out = path.resolve(opts.out);
  recordInputs(out, tool, files.map((f) => path.join(dir, f)));
  // The survey quotes the noise of the Stokes I (tt0, or first-plane) image.
  const science = images.filter((i) => i.kind === 'image').sort((a, b) => Number(!/\.tt0\./.test(a.file)) - Number(!/\.tt0\./.test(b.file)));
  const qa = images.every((i) => i.qa === 'pass') ? 'pass' : 'warn';
  const rmsMicroJy = science.length ? science[0].rmsMicroJy : null;
  fs.writeFileSync(path.join(out, `${name}.qa.json`), `${JSON.stringify({ tool, subject: opts.subject, imageName: name, qa, images }, null, 2)}\n`);
  writeResult({ qa, images: images.length, rmsMicroJy });
  console.log(`${tool}: ${images.length} image(s) of ${name}: QA ${qa} (rms ${rmsMicroJy} uJy/beam)`);
}

/**
 * create-component-list(.sh), create-cube-component-list(.sh): a source
 * catalogue of one image, as PyBDSF's Gaussian list that the survey's
 * scripts reduce it to: <out>/<image base>.components.csv.
 */
async function componentList({ tool, script, token, perSpw }) {
  const usage = `usage: ${tool} --subject <subject> --image <file> --out <dir>`;
  onSignals();
  const opts = parseArgs(tool, usage, process.argv.slice(2), ['subject', 'image', 'out']);
  await slowdown(tool, opts.subject);
  const image = path.resolve(opts.image);
  if (failsOn(opts.subject, token))
    die(script, 77, 'RuntimeError', `${tool}: PyBDSF process_image failed on ${path.basename(image)}: no islands above the threshold (SIMFAIL-${token})`);
  if (!fs.existsSync(image) || !fs.statSync(image).isFile()) die(script, 51, 'FileNotFoundError', `${tool}: no image ${image}`);
  let fitsImage;
  try {
    fitsImage = readFits(image);
  } catch (e) {
    die(script, 60, 'OSError', `${tool}: ${e.message}`);
  }
  const { rms, peak } = imageStats(fitsImage);
  const base = path.basename(image).replace(/\.fits$/, '');
  // The tile centre from a VLASS name (...J101700+433000...), else 0,0.
  const m = /J(\d{2})(\d{2})(\d{2})([+-])(\d{2})(\d{2})(\d{2})/.exec(base);
  const ra0 = m ? 15 * (Number(m[1]) + Number(m[2]) / 60 + Number(m[3]) / 3600) : 0;
  const dec0 = m ? (m[4] === '-' ? -1 : 1) * (Number(m[5]) + Number(m[6]) / 60 + Number(m[7]) / 3600) : 0;
  const rnd = random(base);
  const header = ['Source_id', 'RA', 'E_RA', 'DEC', 'E_DEC', 'Total_flux', 'E_Total_flux', 'Peak_flux', 'E_Peak_flux', 'Isl_rms', ...(perSpw ? ['Spw'] : [])];
  const spw = (/\.spw(\d+)\./.exec(base) || [])[1];
  const rows = [];
  const n = 3 + Math.floor(rnd() * 3);
  for (let i = 0; i < n; i++) {
    const flux = i === 0 ? peak : peak * (0.05 + 0.3 * rnd());
    rows.push([i, (ra0 + (rnd() - 0.5) * 0.5).toFixed(6), (0.1 + rnd() * 0.3).toFixed(3), (dec0 + (rnd() - 0.5) * 0.5).toFixed(6),
      (0.1 + rnd() * 0.3).toFixed(3), (flux * 1.1e3).toFixed(4), (rms * 1.5e3).toFixed(4), (flux * 1e3).toFixed(4), (rms * 1e3).toFixed(4), (rms * 1e3).toFixed(4), ...(perSpw ? [spw || ''] : [])]);
  }
  const out = path.resolve(opts.out);
  // One image per call, and the cube's planes are listed side by side: one record per image.
  recordInputs(out, `${base}.${tool}`, [image]);
  const file = path.join(out, `${base}.components.csv`);
  fs.writeFileSync(file, `${header.join(',')}\n${rows.map((r) => r.join(',')).join('\n')}\n`);
  writeResult({ components: rows.length, file: path.basename(file) });
  console.log(`${tool}: ${rows.length} components of ${path.basename(image)} in ${path.basename(file)}`);
}

const main = (fn, tool) => (spec) =>
  fn(spec).catch((e) => {
    process.stderr.write(`${tool}: ${e.stack || e}\n`);
    process.exit(1);
  });

module.exports = { annotateQa: (spec) => main(annotateQa, spec.tool)(spec), componentList: (spec) => main(componentList, spec.tool)(spec), PLAIN_NAME, die, failsOn, imageStats, onSignals, parseArgs, random, readFits, recordInputs, sha256, slowdown, writeResult };
