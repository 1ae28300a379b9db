import type { Random } from './random';
import { DAY_MS } from './timestamp';

/**
 * Values that look like the ones in the real ToteSys database (which were made with faker.js):
 * people, companies, addresses, design files and item codes. Only the shapes matter to the
 * pipeline, but plausible values make warehouse output readable.
 */

const FIRST_NAMES = [
  'Jeremie', 'Deron', 'Jeanette', 'Ana', 'Magdalena', 'Korey', 'Raphael', 'Oswaldo', 'Brody', 'Jazmyn',
  'Meda', 'Imani', 'Stan', 'Rigoberto', 'Tom', 'Pierre', 'Flavio', 'Irving', 'Lucy', 'Micheal',
  'Melba', 'Jane', 'Taylor', 'Homer', 'Florence', 'Pearl', 'Warren', 'Sophie', 'Janie', 'Myra',
  'Alfredo', 'Eva', 'Ivan', 'Jean', 'Erwin', 'Shelley', 'Naomi', 'Chester', 'Mark', 'Jordan',
  'Richard', 'Ann', 'James', 'Kailey', 'Alexie', 'Noemy', 'Horacio', 'Ruthe', 'Sincere', 'Patience',
  'Otis', 'Dorothy', 'Lavinia', 'Gustave', 'Hettie', 'Rowan', 'Esther', 'Cecil', 'Della', 'Marlon',
];

const LAST_NAMES = [
  'Franey', 'Beier', 'Erdman', 'Glover', 'Zieme', 'Kreiger', 'Rippin', 'Bergstrom', 'Loyal', 'Kuhn',
  'Ryan', 'Sauer', 'Kulas', 'Toy', 'Sanford', 'Wiza', 'Haag', 'Mitchell', 'Casper', 'Weimann',
  'Konopelski', 'Doyle', 'Kovacek', 'Cassin', 'Upton', 'Balistreri', 'Runolfsdottir', 'Hane', 'Fahey', 'Leannon',
  'Predovic', 'Morar', 'Armstrong', 'Kohler', 'Frami', 'Yundt', 'Macejkovic', 'Mraz', 'Ondricka', 'Conroy',
  'Turcotte', 'Yost', 'Watsica', 'Mann', 'Herzog', 'Rogahn', 'Heathcote', 'Hilpert', 'Schowalter', 'Gutmann',
  'Lind', 'Bashirian', 'Wolff', 'Kemmer', 'Hermiston', 'Quitzon', 'Stiedemann', 'Bogan', 'Dickens', 'Padberg',
];

const NAME_PREFIXES = ['Mr.', 'Mrs.', 'Ms.', 'Dr.', 'Miss'];
const NAME_SUFFIXES = ['Jr.', 'II', 'III', 'IV', 'Sr.'];

const STREET_SUFFIXES = [
  'Via', 'Cliffs', 'Fort', 'Skyway', 'Track', 'Island', 'Landing', 'Lock', 'Heights', 'Pines',
  'Crossing', 'Mill', 'Ridge', 'Rapids', 'Gardens', 'Court', 'Springs', 'Harbor', 'Meadow', 'Causeway',
];

const CITY_PREFIXES = ['New', 'Lake', 'Fort', 'Port', 'East', 'West', 'North', 'South'];
const CITY_SUFFIXES = ['burgh', 'side', 'view', 'furt', 'ton', 'chester', 'field', 'stad', 'mouth', 'haven'];
const CITIES = ['Aliso Viejo', 'Lake Charles', 'Utica', 'Olsonside', 'Bartellview', 'Kendall', 'Sayreville', 'Suffolk'];

const DISTRICTS = [
  'Avon', 'Bedfordshire', 'Buckinghamshire', 'Cambridgeshire', 'Cheshire', 'Cornwall', 'Cumbria', 'Derbyshire',
  'Devon', 'Dorset', 'Essex', 'Kent', 'Lancashire', 'Norfolk', 'Somerset', 'Surrey',
];

const COUNTRIES = [
  'Turkey', 'San Marino', 'Samoa', 'Republic of Korea', 'Bosnia and Herzegovina', 'Austria', 'Congo',
  'Falkland Islands (Malvinas)', 'Antigua and Barbuda', 'Guatemala', 'Iceland', 'Lesotho', 'Portugal',
  'United Kingdom', 'Tokelau', 'Cayman Islands', 'Sierra Leone', 'Zambia', 'Chile', 'Estonia',
];

/** Design names are faker "product material" adjectives. */
export const DESIGN_NAMES = [
  'Wooden', 'Bronze', 'Granite', 'Soft', 'Plastic', 'Concrete', 'Frozen', 'Steel', 'Cotton', 'Rubber',
  'Metal', 'Fresh', 'Bamboo', 'Recycled', 'Golden', 'Silk', 'Leather', 'Marble', 'Glass', 'Woollen',
];

const FILE_LOCATIONS = [
  '/usr', '/private', '/private/var', '/lost+found', '/System', '/usr/ports', '/opt/include', '/usr/libexec',
  '/boot', '/usr/libdata', '/Library', '/home/user/dir', '/var/log', '/usr/share', '/etc/ppp', '/opt/bin',
];

const ALPHANUMERIC_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const ALPHANUMERIC_LOWER = 'abcdefghijklmnopqrstuvwxyz0123456789';

export interface PersonName {
  first: string;
  last: string;
}

export function personName(random: Random): PersonName {
  return { first: random.pick(FIRST_NAMES), last: random.pick(LAST_NAMES) };
}

/** A contact as faker prints one: now and then with a title before or a suffix after. */
export function contactName(random: Random): string {
  const { first, last } = personName(random);
  const roll = random.next();
  if (roll < 0.1) return `${random.pick(NAME_PREFIXES)} ${first} ${last}`;
  if (roll < 0.18) return `${first} ${last} ${random.pick(NAME_SUFFIXES)}`;
  return `${first} ${last}`;
}

/** Staff addresses follow first.last@terrifictotes.com; letters only, as the real ones are. */
export function staffEmail(first: string, last: string, variant = ''): string {
  const clean = (name: string) => name.toLowerCase().replace(/[^a-z]/g, '');
  return `${clean(first)}.${clean(last)}${variant}@terrifictotes.com`;
}

export function companyName(random: Random): string {
  const a = random.pick(LAST_NAMES);
  switch (random.int(0, 4)) {
    case 0:
      return `${a} and Sons`;
    case 1:
      return `${a}, ${random.pick(LAST_NAMES)} and ${random.pick(LAST_NAMES)}`;
    case 2:
      return `${a} Inc`;
    case 3:
      return `${a} LLC`;
    default:
      return `${a} - ${random.pick(LAST_NAMES)}`;
  }
}

export interface AddressFields {
  address_line_1: string;
  address_line_2: string | null;
  district: string | null;
  city: string;
  postal_code: string;
  country: string;
  phone: string;
}

export function addressFields(random: Random): AddressFields {
  const city = random.chance(0.3)
    ? random.pick(CITIES)
    : random.chance(0.5)
      ? `${random.pick(CITY_PREFIXES)} ${random.pick(FIRST_NAMES)}${random.pick(CITY_SUFFIXES)}`
      : `${random.pick(LAST_NAMES)}${random.pick(CITY_SUFFIXES)}`;
  const postcode = String(random.int(10000, 99999));
  return {
    address_line_1: `${random.int(1, 99999)} ${random.pick(LAST_NAMES)} ${random.pick(STREET_SUFFIXES)}`,
    address_line_2: random.chance(0.3) ? `${random.pick(FIRST_NAMES)} ${random.pick(STREET_SUFFIXES)}` : null,
    district: random.chance(0.5) ? random.pick(DISTRICTS) : null,
    city,
    postal_code: random.chance(0.4) ? `${postcode}-${random.int(1000, 9999)}` : postcode,
    country: random.pick(COUNTRIES),
    phone: `${String(random.int(0, 9999)).padStart(4, '0')} ${String(random.int(0, 999999)).padStart(6, '0')}`,
  };
}

export function fileLocation(random: Random): string {
  return random.pick(FILE_LOCATIONS);
}

/** e.g. "wooden-20220717-npgz.json": the design name, a day before `createdAtMs`, four characters. */
export function designFileName(random: Random, designName: string, createdAtMs: number): string {
  const day = new Date(createdAtMs - random.int(1, 700) * DAY_MS).toISOString().slice(0, 10).replace(/-/g, '');
  return `${designName.toLowerCase()}-${day}-${randomString(random, ALPHANUMERIC_LOWER, 4)}.json`;
}

/** Seven upper-case letters and digits, like "ZDOI5EA". */
export function itemCode(random: Random): string {
  return randomString(random, ALPHANUMERIC_UPPER, 7);
}

/** Bank account numbers are eight-digit integers. */
export function accountNumber(random: Random): number {
  return random.int(10_000_000, 99_999_999);
}

function randomString(random: Random, alphabet: string, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += alphabet[Math.floor(random.next() * alphabet.length)];
  return text;
}
