//! A plain text table: columns padded to their widest cell, measured on the text before
//! colouring so escape codes never skew the alignment.

use crate::style::{Color, Style};

/// Rows of cells under a header; each cell may carry a colour.
#[derive(Clone, Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<(String, Option<Color>)>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<(String, Option<Color>)>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines (no trailing spaces), header dimmed when colour is on.
    pub fn render(&self, style: Style) -> Vec<String> {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (index, (text, _)) in row.iter().take(columns).enumerate() {
                widths[index] = widths[index].max(text.chars().count());
            }
        }
        let line = |cells: Vec<(&str, Option<Color>)>| {
            let mut out = String::new();
            for (index, (text, color)) in cells.into_iter().enumerate() {
                if index > 0 {
                    out.push_str("  ");
                }
                let pad = widths[index].saturating_sub(text.chars().count());
                match color {
                    Some(color) => out.push_str(&style.paint(color, text)),
                    None => out.push_str(text),
                }
                out.push_str(&" ".repeat(pad));
            }
            out.trim_end().to_owned()
        };
        let mut lines = Vec::with_capacity(self.rows.len() + 1);
        lines.push(line(self.header.iter().map(|h| (h.as_str(), Some(Color::Dim))).collect()));
        for row in &self.rows {
            let cells = (0..columns)
                .map(|i| row.get(i).map_or(("", None), |(text, color)| (text.as_str(), *color)))
                .collect();
            lines.push(line(cells));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_plain_width() {
        let mut table = Table::new(&["ID", "STATE"]);
        table.row(vec![("1".into(), None), ("ready".into(), Some(Color::Green))]);
        table.row(vec![("200".into(), None)]);
        assert_eq!(table.render(Style::PLAIN), vec!["ID   STATE", "1    ready", "200"]);
        let coloured = table.render(Style { color: true });
        assert_eq!(coloured[1], "1    \x1b[32mready\x1b[0m");
    }
}
