/** `npm run dashboard [-- --port N]`: the same command as `tessera serve`. */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
