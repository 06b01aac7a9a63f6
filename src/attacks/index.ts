export { fgsm, type FgsmOptions } from './fgsm.js';
export { pgd, type PgdOptions } from './pgd.js';
