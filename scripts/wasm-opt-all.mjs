// Runs binaryen's -Oz over every wasm module named on the command line, in place, in one
// process: the split bundle has dozens of modules, and each start of the wasm-opt command
// costs seconds of compiling binaryen itself.
import binaryen from 'binaryen';
import { readFileSync, writeFileSync } from 'node:fs';

binaryen.setOptimizeLevel(2);
binaryen.setShrinkLevel(2);
const F = binaryen.Features;
const features = F.BulkMemory | F.NontrappingFPToInt | F.SignExt | F.MutableGlobals;
for (const path of process.argv.slice(2)) {
  const module = binaryen.readBinary(readFileSync(path));
  // What the module declares it uses (reference types, multi-value) stays enabled.
  module.setFeatures(module.getFeatures() | features);
  module.runPasses(['strip-debug', 'strip-producers']);
  module.optimize();
  writeFileSync(path, module.emitBinary());
  module.dispose();
}
