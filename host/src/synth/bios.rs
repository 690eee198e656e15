//! Artist names and biographies: sentences drawn from the artist's genres (by weight), its
//! scene's places and labels, and filler that says nothing about the music. A few sentences
//! mention an unrelated genre, as real bios do.

use rand::{Rng, RngExt};

use super::genres::{GENRES, SCENES};
use super::random::categorical;

const FIRST: &[&str] = &[
    "Ada", "Bruno", "Cleo", "Dario", "Elif", "Femi", "Greta", "Hugo", "Ines", "Jonas", "Kofi", "Lena", "Mateo",
    "Nadia", "Oskar", "Priya", "Quinn", "Rosa", "Sami", "Tove", "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zora",
];
const LAST: &[&str] = &[
    "Ambrose",
    "Baptiste",
    "Castell",
    "Drummond",
    "Eriksen",
    "Fontaine",
    "Garvey",
    "Holloway",
    "Iwu",
    "Jansen",
    "Kovacs",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Pereira",
    "Quist",
    "Ruiz",
    "Sato",
    "Thorne",
    "Ubeda",
    "Varga",
    "Whitlock",
    "Yilmaz",
    "Zeller",
];
const ADJ: &[&str] = &[
    "Velvet", "Northern", "Hollow", "Electric", "Paper", "Silent", "Golden", "Broken", "Crystal", "Midnight", "Iron",
    "Lunar", "Saffron", "Static", "Wild", "Glass",
];
const NOUN: &[&str] = &[
    "Harbours", "Engines", "Orchids", "Tides", "Lanterns", "Wolves", "Signals", "Mirrors", "Rivers", "Comets",
    "Ghosts", "Gardens",
];
const ROLES: &[&str] = &["band", "producer", "singer", "trio", "collective", "composer", "duo", "quartet"];
const FILLER: &[&str] = &[
    "The new record was made over two winters in a converted barn with the windows open.",
    "Early shows took place in borrowed living rooms and the back rooms of cafes.",
    "Every release so far has come out on the same day of the year, a private joke nobody explains.",
    "A debut single sold out its first pressing in a week.",
    "Between tours there is a day job, teaching children to read.",
    "The artwork is always a photograph taken by a grandparent.",
    "Lyrics are written first, on postcards, and set to music later.",
    "A documentary about the making of the second album is in the works.",
    "Interviews are rare; the answers are usually short.",
    "The name came from a misprinted concert ticket.",
];

fn pick<'a, R: Rng>(rng: &mut R, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

/// A person's or a band's name.
pub fn name<R: Rng>(rng: &mut R) -> String {
    if rng.random::<f32>() < 0.5 {
        format!("{} {}", pick(rng, FIRST), pick(rng, LAST))
    } else {
        format!("The {} {}", pick(rng, ADJ), pick(rng, NOUN))
    }
}

/// A biography for an artist of genre mixture `mixture` and scene `scene`, on `label`.
pub fn bio<R: Rng>(rng: &mut R, name: &str, mixture: &[f32], scene: usize, label: &str) -> String {
    let genre = |rng: &mut R| &GENRES[categorical(rng, mixture)];
    let sc = &SCENES[scene];
    let mut sentences = Vec::new();
    let g = genre(rng);
    sentences.push(format!(
        "{name} is a {} {} from {}.",
        pick(rng, g.genre_words),
        pick(rng, ROLES),
        pick(rng, sc.places)
    ));
    let n = rng.random_range(3..8);
    for _ in 0..n {
        let g = genre(rng);
        let s = match rng.random_range(0..7) {
            0 => format!("It started on {} before {} took over.", pick(rng, g.instruments), pick(rng, g.instruments)),
            1 => {
                let other = genre(rng);
                format!(
                    "The records on {label} mix {} with {}.",
                    pick(rng, g.genre_words),
                    pick(rng, other.genre_words)
                )
            }
            2 => format!(
                "Critics hear classic {} and the sound of {}.",
                pick(rng, g.genre_words),
                if rng.random::<f32>() < 0.5 { pick(rng, g.places) } else { pick(rng, sc.places) }
            ),
            3 => format!("On stage the set leans on {} and {}.", pick(rng, g.instruments), pick(rng, g.instruments)),
            4 => format!(
                "A residency in {} led to a deal with {}.",
                pick(rng, sc.places),
                if rng.random::<f32>() < 0.5 { pick(rng, sc.labels) } else { pick(rng, g.labels) }
            ),
            5 => {
                let other = &GENRES[rng.random_range(0..GENRES.len())];
                format!("An early love of {} still shows now and then.", pick(rng, other.genre_words))
            }
            _ => pick(rng, FILLER).to_string(),
        };
        sentences.push(s);
    }
    sentences.join(" ")
}
