// Walks the MLflow UI of a test server in Debian's Chromium through
// playwright-core: the experiments list, the experiment, the run, a metric
// value, the Artifacts tab and one artifact. It saves a screenshot of each
// step into the output folder and exits 0 when every step found what it
// expected, 1 otherwise. Requests to any host other than 127.0.0.1 are
// aborted and listed as a failure.
//
// usage: node mlflow_ui.js URI EXPERIMENT RUN METRIC VALUE ARTIFACT TEXT OUT_DIR [IMAGE]
//   METRIC and VALUE: a metric key and the value text the run page shows
//   ARTIFACT and TEXT: an artifact path and a text its preview shows
//   IMAGE: the path of an image artifact (PNG, SVG) that the viewer must draw
// Environment: ADVGNN_CHROMIUM (default /usr/bin/chromium).
//
// NOTE: the selectors follow the UI of MLflow 3.17.2, and requirements-test.txt
// accepts any mlflow>=3.7. After a UI change, failure.png in OUT_DIR shows
// the page where the failed step stopped.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const STEP_TIMEOUT_MS = 30000;

// Flags that keep Chromium from contacting hosts other than the test server.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage',
];

// Clicks each folder of `artifactPath` in the artifact tree, then the file.
async function openArtifact(page, artifactPath) {
  for (const part of artifactPath.split('/')) {
    await page.getByText(part, { exact: true }).first().click();
  }
}

// In the page: returns the number of drawn images at least 300 pixels wide
// when it exceeds `above`, else 0 (so waitForFunction waits for one more).
function countLargeImages(above) {
  const count = [...document.images].filter((img) => img.complete && img.naturalWidth >= 300).length;
  return count > above ? count : 0;
}

async function main() {
  const [uri, experiment, run, metric, value, artifact, artifactText, outDir, image] = process.argv.slice(2);
  if (!outDir) {
    console.error('usage: node mlflow_ui.js URI EXPERIMENT RUN METRIC VALUE ARTIFACT TEXT OUT_DIR [IMAGE]');
    return 2;
  }
  fs.mkdirSync(outDir, { recursive: true });

  // A new, empty profile per run, removed at the end.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'advgnn-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.ADVGNN_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 900 },
  });
  const blocked = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    blocked.push(url.href);
    return route.abort();
  });

  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  let step = 'start';
  const shot = (name) => page.screenshot({ path: path.join(outDir, `${name}.png`) });
  try {
    step = 'experiments list';
    await page.goto(`${uri}/#/experiments`);
    await page.getByTestId('search-experiment-input').waitFor();
    // MLflow 3.17 opens experiments in its GenAI view, which lists traces
    // and no runs. Its "Model training" switch shows the runs.
    const training = page.getByText('Model training', { exact: true });
    if ((await training.count()) > 0) await training.first().click();
    await page.getByTestId('search-experiment-input').fill(experiment);
    await page.getByTestId('search-experiment-input').press('Enter');
    await page.getByRole('link', { name: experiment, exact: true }).click();

    step = 'experiment page';
    await page.getByRole('link', { name: run, exact: true }).first().click();

    step = 'run page';
    await page.getByText(metric, { exact: true }).first().waitFor();
    const metricValue = page.getByText(value, { exact: true }).first();
    await metricValue.waitFor();
    await metricValue.scrollIntoViewIfNeeded();
    await shot('run');

    step = 'artifacts tab';
    await page.getByRole('tab', { name: 'Artifacts' }).click();
    await openArtifact(page, artifact);
    await page.getByText(artifactText).first().waitFor();
    await shot('artifact');
    console.log(`mlflow_ui: found ${metric} = ${value} and ${artifact} in run ${run}`);

    if (image) {
      step = 'image artifact';
      // The viewer loads the image from a blob: URL, so the check is on the
      // number of drawn images of at least 300 pixels (the logo is smaller).
      const before = await page.evaluate(countLargeImages, 0);
      await openArtifact(page, image);
      await page.waitForFunction(countLargeImages, before);
      await shot('image');
      console.log(`mlflow_ui: the artifact viewer drew ${image}`);
    }
  } catch (error) {
    await shot('failure').catch(() => {});
    console.error(`mlflow_ui: step "${step}" failed at ${page.url()}: ${error.message}`);
    return 1;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }

  if (blocked.length > 0) {
    console.error(`mlflow_ui: Chromium requested other hosts (aborted): ${blocked.join(' ')}`);
    return 1;
  }
  return 0;
}

main().then((code) => process.exit(code), (error) => {
  console.error(`mlflow_ui: ${error.stack || error}`);
  process.exit(1);
});
