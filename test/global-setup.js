// Process-level tests run the built CLI: build dist/ once before any test file starts.
module.exports = () => {
  require('../scripts/build-if-needed.js');
};
